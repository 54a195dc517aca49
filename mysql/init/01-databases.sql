-- Run once by the MySQL image on an empty data volume (/docker-entrypoint-initdb.d).
-- The application user (MYSQL_USER) is created by the image; 02-grants.sh grants it these databases.
CREATE DATABASE IF NOT EXISTS raw_data_db   CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS clean_data_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS mlflow_db     CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
-- Airflow's own metadata (docker-compose's `airflow` service).
CREATE DATABASE IF NOT EXISTS airflow_db    CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
