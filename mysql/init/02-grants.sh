# Sourced once by the MySQL image's entrypoint after 01-databases.sql (keep this file
# NOT executable: sourced, it can use the entrypoint's docker_process_sql, already
# authenticated as root). Grants the application user (MYSQL_USER, from the
# environment) the platform's databases. No password appears here.
: "${MYSQL_USER:?MYSQL_USER must be set}"
for db in raw_data_db clean_data_db mlflow_db airflow_db; do
    docker_process_sql --database=mysql <<<"GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${MYSQL_USER}'@'%';"
done
docker_process_sql --database=mysql <<<"FLUSH PRIVILEGES;"
