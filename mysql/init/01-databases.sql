-- Run once by the MySQL image on an empty data volume (/docker-entrypoint-initdb.d).
-- The users and their grants come next (02-grants.sh: one user per service, only its database).
CREATE DATABASE IF NOT EXISTS raw_data_db   CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS clean_data_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS mlflow_db     CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
-- Airflow's own metadata.
CREATE DATABASE IF NOT EXISTS airflow_db    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
