"""Real services for the tests: a private MariaDB, an S3 server and an MLflow server.

Each starts on a free loopback port in its own process group and is stopped
with that group. A service that cannot start raises with a sentence that says
how to fix it; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before it was ready")
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not ready yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f} s")


def http_ok(url: str) -> Callable[[], bool]:
    return lambda: httpx.get(url, timeout=2).status_code < 500


@contextmanager
def running(
    cmd: list[str],
    *,
    ready: Callable[[], bool],
    what: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Iterator[subprocess.Popen]:
    """Start ``cmd`` in its own process group, wait for ``ready``, stop the group at exit."""
    log_file = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        cmd, env={**os.environ, **(env or {})}, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            wait_until(ready, timeout=timeout, what=what, process=process)
        except RuntimeError as error:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"{error}\n--- {what} log ---\n{tail}") from None
        yield process
    finally:
        stop_process_group(process, stop_signal)
        log_file.close()


def stop_process_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# --------------------------------------------------------------------------- MariaDB


@dataclass(frozen=True)
class MariaDB:
    host: str
    port: int
    user: str
    password: str
    socket_path: Path

    def url(self, database: str) -> str:
        return f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        subprocess.run(
            ["mariadb", f"--socket={self.socket_path}", "-uroot", "-e", sql], check=True, capture_output=True
        )

    def fresh_database(self, prefix: str = "test") -> str:
        """Create an empty database with a unique name and return its SQLAlchemy URL."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        self.admin(f"CREATE DATABASE `{name}`")
        return self.url(name)


def _mariadb_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{name} not found: install MariaDB with `apt-get install -y mariadb-server` (.ci/run does)")
    return path


@contextmanager
def mariadb_server(base_dir: Path, extra_args: Sequence[str] = ()) -> Iterator[MariaDB]:
    """A throwaway MariaDB with its own data folder, port and a password user for TCP (``extra_args``: more
    server options, e.g. TLS)."""
    datadir = base_dir / "mariadb"
    datadir.mkdir(parents=True)
    shutil.chown(base_dir, "mysql", "mysql")
    shutil.chown(datadir, "mysql", "mysql")
    subprocess.run(
        [
            _mariadb_binary("mariadb-install-db"),
            "--user=mysql",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    sock = datadir / "mysqld.sock"
    cmd = [
        _mariadb_binary("mariadbd"),
        "--no-defaults",
        "--user=mysql",
        f"--datadir={datadir}",
        f"--port={port}",
        f"--socket={sock}",
        "--bind-address=127.0.0.1",
        "--local-infile=1",
        "--innodb-buffer-pool-size=256M",
        "--innodb-flush-log-at-trx-commit=2",
        "--skip-log-bin",
        "--max-connections=300",
        *extra_args,
    ]
    ping = [_mariadb_binary("mariadb-admin"), f"--socket={sock}", "-uroot", "ping"]
    with running(
        cmd,
        ready=lambda: subprocess.run(ping, capture_output=True).returncode == 0,
        what="MariaDB",
        timeout=60,
        log_path=base_dir / "mariadb.log",
    ):
        server = MariaDB("127.0.0.1", port, "readmission", secrets.token_urlsafe(16), sock)
        server.admin(
            f"CREATE USER '{server.user}'@'127.0.0.1' IDENTIFIED BY '{server.password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{server.user}'@'127.0.0.1'; FLUSH PRIVILEGES;"
        )
        yield server


# --------------------------------------------------------------------------- S3 (moto_server)


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or f"bucket-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=bucket)
        return bucket


S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(
        [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        ready=http_ok(url + "/moto-api/"),
        what="moto_server",
        timeout=30,
        log_path=log_dir / "moto_server.log",
    ):
        yield S3Server(url)


# --------------------------------------------------------------------------- MLflow server


@dataclass(frozen=True)
class MlflowServer:
    tracking_uri: str
    artifact_bucket: str
    s3_endpoint_url: str


@contextmanager
def mlflow_server(mariadb: MariaDB, s3: S3Server, log_dir: Path) -> Iterator[MlflowServer]:
    """`mlflow server` with a MariaDB backend and S3 artifacts, one worker, no job runner."""
    backend = mariadb.fresh_database("mlflow_db")
    bucket = s3.create_bucket("mlflow-artifacts")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **S3_TEST_ENV,
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    from readmission.platform import mlflow_server_command

    cmd = mlflow_server_command(backend, f"s3://{bucket}", port)
    with running(
        cmd,
        ready=http_ok(url + "/health"),
        what="mlflow server",
        timeout=180,
        env=env,
        log_path=log_dir / "mlflow_server.log",
    ):
        yield MlflowServer(url, bucket, s3.endpoint_url)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --------------------------------------------------------------------------- batch data API

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DataApi:
    url: str
    port: int
    admin_token: str
    state_dir: Path


@contextmanager
def data_api_server(
    log_dir: Path,
    *,
    batch_size: int | None = None,
    interval_seconds: float | None = None,
    state_dir: Path | None = None,
    port: int | None = None,
) -> Iterator[DataApi]:
    """`readmission data-api` (gunicorn) on a free loopback port, with its own state folder.

    Pass the same ``state_dir`` to a second server to see the cycle survive a restart.
    Defaults: BATCH_SIZE 15,000 and UPDATE_INTERVAL_SECONDS 300.
    """
    port = port or free_port()
    state_dir = state_dir or Path(tempfile.mkdtemp(prefix="data-api-state-", dir=log_dir))
    token = secrets.token_urlsafe(24)
    env = {
        "ENVIRONMENT": "local",
        "LOCAL_DIR": str(state_dir / "local"),
        "DATA_CSV_PATH": str(REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"),
        "DATA_API_HOST": "127.0.0.1",
        "DATA_API_PORT": str(port),
        "DATA_API_STATE_DIR": str(state_dir),
        "DATA_API_ADMIN_TOKEN": token,
        "DATA_API_WORKERS": "2",
    }
    if batch_size is not None:
        env["BATCH_SIZE"] = str(batch_size)
    if interval_seconds is not None:
        env["UPDATE_INTERVAL_SECONDS"] = str(interval_seconds)
    url = f"http://127.0.0.1:{port}"
    with running(
        [str(VENV_BIN / "readmission"), "data-api"],
        ready=http_ok(url + "/health"),
        what="data API",
        timeout=60,
        env=env,
        log_path=log_dir / f"data_api_{port}.log",
    ):
        yield DataApi(url, port, token, state_dir)


# --------------------------------------------------------------------------- Pushgateway


@contextmanager
def pushgateway_server(log_dir: Path) -> Iterator[str]:
    """Debian's ``prometheus-pushgateway`` on a free loopback port (in memory); yields its URL."""
    binary = shutil.which("prometheus-pushgateway")
    assert binary, "prometheus-pushgateway not found: `apt-get install -y prometheus-pushgateway` (.ci/run does)"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="]  # in memory
    with running(
        cmd, ready=http_ok(url + "/-/ready"), what="pushgateway", log_path=log_dir / f"pushgateway_{port}.log"
    ):
        yield url


# --------------------------------------------------------------------------- inference API


@contextmanager
def api_server(
    tracking_uri: str, model_name: str, log_dir: Path, *, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The inference API (uvicorn, the app factory) on a free loopback port, ready once a model is loaded.

    Yields its base URL. The model is ``models:/<model_name>@champion`` from ``tracking_uri``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cache = Path(tempfile.mkdtemp(prefix="api-", dir=log_dir))
    api_env = {
        **S3_TEST_ENV,
        "ENVIRONMENT": "local",
        "LOCAL_DIR": str(cache / "var"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MODEL_NAME": model_name,
        "MODEL_CACHE_DIR": str(cache / "model_cache"),
        "MODEL_POLL_SECONDS": "3600",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **(env or {}),
    }
    cmd = [
        str(VENV_BIN / "uvicorn"),
        "readmission.serving:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with running(
        cmd,
        ready=lambda: httpx.get(url + "/ready", timeout=2).status_code == 200,
        what="inference API",
        timeout=180,
        env=api_env,
        log_path=log_dir / f"inference_api_{port}.log",
    ):
        yield url
