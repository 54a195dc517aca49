#!/bin/bash
# First start on an empty data directory: create the system tables, set the root password, create
# MYSQL_DATABASE and MYSQL_USER, run /docker-entrypoint-initdb.d/*.sql (fed to the client) and *.sh
# (sourced: they may call docker_process_sql). Then run mariadbd in the foreground on MYSQL_PORT.
set -euo pipefail
datadir="${MYSQL_DATADIR:-/var/lib/mysql}"
socket=/tmp/mysqld.sock
: "${MYSQL_ROOT_PASSWORD:?MYSQL_ROOT_PASSWORD must be set}"
if [ -n "${MYSQL_USER:-}" ]; then : "${MYSQL_PASSWORD:?MYSQL_PASSWORD must be set with MYSQL_USER}"; fi

docker_process_sql() { mariadb --no-defaults --protocol=socket --socket="$socket" -uroot "$@"; }
sql_string() { local value="${1//\\/\\\\}"; printf "'%s'" "${value//\'/\'\'}"; }

if [ ! -d "$datadir/mysql" ]; then
    echo "mariadb: initialising $datadir"
    mariadb-install-db --no-defaults --datadir="$datadir" --auth-root-authentication-method=normal \
        --skip-test-db >/dev/null
    mariadbd --no-defaults --datadir="$datadir" --socket="$socket" --skip-networking &
    pid=$!
    for _ in $(seq 1 120); do mariadb-admin --no-defaults --socket="$socket" ping >/dev/null 2>&1 && break; sleep 0.5; done
    {
        echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
        echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "${MYSQL_DATABASE:-}" ]; then echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"; fi
        if [ -n "${MYSQL_USER:-}" ]; then
            echo "CREATE USER IF NOT EXISTS '$MYSQL_USER'@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
            if [ -n "${MYSQL_DATABASE:-}" ]; then echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$MYSQL_USER'@'%';"; fi
        fi
    } | docker_process_sql
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sql) echo "mariadb: running $file"; docker_process_sql <"$file" ;;
            *.sh) echo "mariadb: sourcing $file"; # shellcheck disable=SC1090
                . "$file" ;;
        esac
    done
    # Root over the socket keeps working for the health check; over TCP it needs the password.
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD"); FLUSH PRIVILEGES;" \
        | docker_process_sql
    kill "$pid"
    wait "$pid" || true
    echo "mariadb: initialised"
fi
exec mariadbd --no-defaults --datadir="$datadir" --socket="$socket" \
    --bind-address="${MYSQL_BIND_ADDRESS:-0.0.0.0}" --port="${MYSQL_PORT:-3306}" \
    --local-infile=1 --max-connections=300 "$@"
