# Sourced once by the MySQL image's entrypoint after 01-databases.sql (keep this file NOT
# executable: sourced, it uses the entrypoint's docker_process_sql, already authenticated as
# root). One user per service, each granted only its own database. The user and its secret
# are read from the URL the service itself connects with (one source of truth, nothing to keep
# in step); no secret appears here. A missing URL stops the init with its name.
#
#   RAW_DATABASE_URL, CLEAN_DATABASE_URL  the pipeline: read/write data and its tables (DDL) on
#                                         raw_data_db and clean_data_db, nothing else
#   MLFLOW_BACKEND_STORE_URI              MLflow: all of mlflow_db (it migrates its own schema)
#   AIRFLOW_DATABASE_URL                  Airflow: all of airflow_db (same reason)

readmission_pipeline_privileges="SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES"

# A value as an SQL string literal (backslashes and quotes escaped).
readmission_sql_string() {
    local value=${1//\\/\\\\}
    printf "'%s'" "${value//\'/\'\'}"
}

# Percent-decoding of a URL's user or secret (as SQLAlchemy does).
readmission_url_decode() {
    local value=${1//\\/\\\\}
    printf '%b' "${value//%/\\x}"
}

# readmission_grant URL_VARIABLE DATABASE PRIVILEGES
readmission_grant() {
    local name=$1 database=$2 privileges=$3
    local url=${!name:-}
    if [ -z "$url" ]; then
        echo "02-grants.sh: $name is not set: the database URL of that service's user (kubernetes/secrets.env.example)" >&2
        return 1
    fi
    local rest=${url#*://}
    local userinfo=${rest%@*} location=${rest##*@}
    local path=${location#*/}
    local url_database=${path%%\?*}
    if [ "$rest" = "$url" ] || [ "$userinfo" = "$rest" ] || [ "${userinfo#*:}" = "$userinfo" ]; then
        echo "02-grants.sh: $name must look like mysql+pymysql://USER:SECRET@HOST:PORT/$database" >&2
        return 1
    fi
    if [ "$url_database" != "$database" ]; then
        echo "02-grants.sh: $name names database '$url_database', expected '$database'" >&2
        return 1
    fi
    local user secret
    user=$(readmission_url_decode "${userinfo%%:*}")
    secret=$(readmission_url_decode "${userinfo#*:}")
    if ! [[ $user =~ ^[A-Za-z0-9_.-]{1,32}$ ]] || [ -z "$secret" ]; then
        echo "02-grants.sh: $name: the user must be 1-32 of [A-Za-z0-9_.-] and the secret not empty" >&2
        return 1
    fi
    docker_process_sql --database=mysql <<<"CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY $(readmission_sql_string "$secret");
ALTER USER '${user}'@'%' IDENTIFIED BY $(readmission_sql_string "$secret");
GRANT ${privileges} ON \`${database}\`.* TO '${user}'@'%';"
    echo "02-grants.sh: user ${user}: ${privileges} on ${database}"
}

readmission_grant RAW_DATABASE_URL raw_data_db "$readmission_pipeline_privileges" &&
readmission_grant CLEAN_DATABASE_URL clean_data_db "$readmission_pipeline_privileges" &&
readmission_grant MLFLOW_BACKEND_STORE_URI mlflow_db "ALL PRIVILEGES" &&
readmission_grant AIRFLOW_DATABASE_URL airflow_db "ALL PRIVILEGES" &&
docker_process_sql --database=mysql <<<"FLUSH PRIVILEGES;" || exit 1
