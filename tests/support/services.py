"""Real services for the tests: a private MariaDB, an S3 server and an MLflow server.

Each starts on a free loopback port in its own process group and is stopped
with that group. A service that cannot start raises with a sentence that says
how to fix it; nothing is skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from readmission.config import DATA_CSV
from readmission.supervisor import (  # noqa: F401 - the process helpers, re-exported for the tests
    VENV_BIN,
    MariaDB,
    free_port,
    mariadb_server,
    mlflow_server_command,
    running,
    stop_process_group,
    wait_until,
)
from readmission.supervisor import http_ready as http_ok

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
        "DATA_CSV_PATH": str(DATA_CSV),
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
