"""mysql/init against a real MariaDB: the four databases, one user per service, only its grants.

The scripts run as the MySQL image runs them: the .sql file through the client, the .sh file
sourced by bash with the entrypoint's ``docker_process_sql`` (here: the client as root over the
server's socket). Each user then logs in over TCP with the password of its own URL.
"""

from __future__ import annotations

import subprocess
from urllib.parse import quote

import pymysql
import pytest

from tests.support import REPO_ROOT, services

pytestmark = pytest.mark.integration

INIT = REPO_ROOT / "mysql" / "init"
DATABASES = ("raw_data_db", "clean_data_db", "mlflow_db", "airflow_db")
# A password with every character that needs care: quotes, backslash, percent-encoded '@' and '%'.
PIPELINE_SECRET = "p'i\\pe@li%ne\"1"


def run_init(server: services.MariaDB, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    client = f"mariadb --socket={server.socket_path} -uroot"
    script = (
        f'docker_process_sql() {{ {client} "$@"; }}\n'
        f"{client} < {INIT / '01-databases.sql'} || exit 1\n"
        f"source {INIT / '02-grants.sh'}\n"
    )
    return subprocess.run(
        ["bash", "-c", script], env={"PATH": "/usr/bin:/bin:/usr/sbin", **env}, capture_output=True, text=True
    )


def urls(server: services.MariaDB) -> dict[str, str]:
    host = f"{server.host}:{server.port}"
    pipeline = f"mysql+pymysql://pipeline:{quote(PIPELINE_SECRET, safe='')}@{host}"
    return {
        "RAW_DATABASE_URL": f"{pipeline}/raw_data_db",
        "CLEAN_DATABASE_URL": f"{pipeline}/clean_data_db?charset=utf8mb4",
        "MLFLOW_BACKEND_STORE_URI": f"mysql+pymysql://mlflow:mlflow-secret-1@{host}/mlflow_db",
        "AIRFLOW_DATABASE_URL": f"mysql+pymysql://airflow:airflow-secret-1@{host}/airflow_db",
    }


def connect(server: services.MariaDB, user: str, password: str) -> pymysql.Connection:
    return pymysql.connect(host=server.host, port=server.port, user=user, password=password, autocommit=True)


def can_write(connection: pymysql.Connection, database: str) -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS `{database}`.probe (id INT PRIMARY KEY)")
            cursor.execute(f"REPLACE INTO `{database}`.probe VALUES (1)")
            cursor.execute(f"SELECT id FROM `{database}`.probe")
        return True
    except pymysql.err.OperationalError as error:
        if error.args[0] not in {1044, 1142}:  # access denied to the database / command denied
            raise
        return False


@pytest.fixture(scope="module")
def initialised(mariadb: services.MariaDB):
    result = run_init(mariadb, urls(mariadb))
    assert result.returncode == 0, result.stdout + result.stderr
    yield mariadb, result
    mariadb.admin(
        "".join(f"DROP DATABASE IF EXISTS {db};" for db in DATABASES)
        + "DROP USER IF EXISTS 'pipeline'@'%', 'mlflow'@'%', 'airflow'@'%';"
    )


def test_each_user_reaches_only_its_own_databases(initialised) -> None:
    server, result = initialised
    assert "user pipeline:" in result.stdout
    expected = {
        ("pipeline", PIPELINE_SECRET): {"raw_data_db", "clean_data_db"},
        ("mlflow", "mlflow-secret-1"): {"mlflow_db"},
        ("airflow", "airflow-secret-1"): {"airflow_db"},
    }
    for (user, password), own in expected.items():
        with connect(server, user, password) as connection:
            reachable = {database for database in DATABASES if can_write(connection, database)}
            assert reachable == own, user
            with connection.cursor() as cursor:
                cursor.execute("SHOW DATABASES")
                visible = {row[0] for row in cursor.fetchall()} - {"information_schema"}
            assert visible == own, f"{user} sees {visible}"
            with connection.cursor() as cursor, pytest.raises(pymysql.err.OperationalError):
                cursor.execute("CREATE DATABASE intruder_db")


def test_the_pipeline_has_data_rights_but_no_admin_rights(initialised) -> None:
    server, _ = initialised
    with connect(server, "pipeline", PIPELINE_SECRET) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cursor.fetchall())
    assert "ALL PRIVILEGES" not in grants
    assert "GRANT OPTION" not in grants
    assert "ON *.*" not in grants.replace("GRANT USAGE ON *.*", "")
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "INDEX"):
        assert privilege in grants


def test_wrong_password_is_refused(initialised) -> None:
    server, _ = initialised
    with pytest.raises(pymysql.err.OperationalError):
        connect(server, "mlflow", "not-the-password")


def test_rerun_rekeys_the_users(initialised) -> None:
    """The init is idempotent: run again with a new password, the user logs in with the new one."""
    server, _ = initialised
    env = urls(server) | {
        "AIRFLOW_DATABASE_URL": f"mysql+pymysql://airflow:rotated-2@{server.host}:{server.port}/airflow_db"
    }
    result = run_init(server, env)
    assert result.returncode == 0, result.stderr
    with connect(server, "airflow", "rotated-2") as connection:
        assert can_write(connection, "airflow_db")
    run_init(server, urls(server))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MLFLOW_BACKEND_STORE_URI", None, "MLFLOW_BACKEND_STORE_URI is not set"),
        ("RAW_DATABASE_URL", "mysql+pymysql://pipeline@db:3306/raw_data_db", "RAW_DATABASE_URL must look like"),
        ("AIRFLOW_DATABASE_URL", "mysql+pymysql://airflow:x@db:3306/mlflow_db", "expected 'airflow_db'"),
        ("CLEAN_DATABASE_URL", "mysql+pymysql://pi`pe:x@db:3306/clean_data_db", "CLEAN_DATABASE_URL: the user must be"),
    ],
)
def test_a_missing_or_bad_url_stops_the_init_naming_it(initialised, name: str, value: str | None, message: str) -> None:
    server, _ = initialised
    env = urls(server)
    if value is None:
        del env[name]
    else:
        env[name] = value
    result = run_init(server, env)
    assert result.returncode != 0
    assert message in result.stderr
