"""The database link: no file leaves this machine unless a bulk load names it, and TLS when asked for."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pymysql
import pytest
import sqlalchemy as sa
from pymysql.constants import CLIENT

from readmission import schema, storage
from tests.support import services

pytestmark = pytest.mark.integration


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("1,the-secret\n")
    return path


def _load_statement(path: Path) -> str:
    return f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE leak FIELDS TERMINATED BY ','"


def _leak_table(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE leak (id INT, value VARCHAR(64))")


def _leaked(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql("SELECT * FROM leak")]


def test_engine_connections_cannot_send_a_local_file(mariadb, secret_file):
    engine = storage.raw_engine(mariadb.fresh_database("nofile"))
    _leak_table(engine)
    with engine.connect() as conn:
        assert not conn.connection.dbapi_connection.client_flag & CLIENT.LOCAL_FILES
        with pytest.raises(sa.exc.DBAPIError):
            conn.exec_driver_sql(_load_statement(secret_file))
    assert _leaked(engine) == []


def test_a_loading_connection_sends_only_the_file_its_bulk_write_names(mariadb, secret_file, sample, caplog):
    engine = storage.raw_engine(mariadb.fresh_database("ownfile"))
    _leak_table(engine)
    with pytest.raises(sa.exc.DBAPIError, match="not this connection's own file"):  # noqa: SIM117
        with storage.loading(engine) as conn:
            conn.exec_driver_sql(_load_statement(secret_file))
    assert _leaked(engine) == []
    frame = pd.DataFrame(sample[:200], columns=list(schema.COLUMN_NAMES)).assign(
        batch_number=1, ingested_at="2026-01-01 00:00:00"
    )
    with storage.loading(engine) as conn:
        assert storage.bulk_insert_frame(conn, storage.diabetes_raw, frame) == 200
    assert "LOAD DATA LOCAL INFILE is disabled" not in caplog.text  # the load itself went through LOAD DATA


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_mariadb() -> Iterator[tuple[services.MariaDB, Path]]:
    """A private MariaDB that speaks TLS with a certificate for 127.0.0.1 signed by a throwaway CA."""
    base = services.temp_dir("readmission-tls-")
    certs = base / "certs"
    certs.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=readmission test CA", cwd=certs)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=certs)  # fmt: skip
    (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=certs)  # fmt: skip
    for path in [certs, *certs.iterdir()]:
        shutil.chown(path, "mysql", "mysql")
    tls = [f"--ssl-ca={certs / 'ca.pem'}", f"--ssl-cert={certs / 'server.pem'}", f"--ssl-key={certs / 'server.key'}"]
    try:
        with services.mariadb_server(base, tls) as server:
            yield server, certs / "ca.pem"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _cipher(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'").one()[1])


def test_database_ssl_ca_makes_every_connection_tls_and_verifies_the_server(tls_mariadb, sample):
    server, ca = tls_mariadb
    url = server.fresh_database("tls")
    engine = storage.get_engine(url, str(ca))
    assert _cipher(engine) != ""
    storage.raw_metadata.create_all(engine)
    frame = pd.DataFrame(sample[:50], columns=list(schema.COLUMN_NAMES)).assign(
        batch_number=1, ingested_at="2026-01-01 00:00:00"
    )
    with storage.loading(engine) as conn:  # the bulk-load connection is TLS too
        assert _cipher_of(conn) != ""
        assert storage.bulk_insert_frame(conn, storage.diabetes_raw, frame) == 50


def _cipher_of(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'").one()[1])


def test_ssl_true_in_the_url_refuses_a_server_it_cannot_verify(tls_mariadb):
    server, _ = tls_mariadb
    engine = storage.get_engine(server.fresh_database("tlsurl") + "?ssl=true")  # system CAs: the test CA is unknown
    with pytest.raises(sa.exc.OperationalError, match="CERTIFICATE_VERIFY_FAILED"):
        _cipher(engine)
    with pytest.raises(ValueError, match="must be true or false"):
        storage.get_engine(server.url("x") + "?ssl=maybe")


def test_pymysql_is_the_driver_whose_hook_is_guarded():
    assert storage._guard_local_files()
    assert pymysql.connections._send_local_file.__name__ == "send_own_file_only"
