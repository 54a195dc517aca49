"""The real stack a ``dag.test()`` run needs, and DAG runs as subprocesses (``python -m readmission.dagrun``).

Real MariaDB (raw and clean databases), a real ``mlflow server`` (MariaDB backend,
``moto_server`` S3 artifacts), S3 for the datasets and the staging area, and the
data API on a free port with small batches. Each DAG run is a subprocess whose
environment is set before Airflow's first import; the metadata database is SQLite
in a temporary ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from readmission.dagrun import parse_summary
from tests.support import REPO_ROOT, services

DAGS_FOLDER = REPO_ROOT / "dags"

BATCH_SIZE = 3_000


@dataclass
class Stack:
    env: dict[str, str]
    raw_url: str
    clean_url: str
    tracking_uri: str
    model_name: str
    log_dir: Path

    def run(self, conf: dict | None = None, *, extra: dict[str, str] | None = None, args: list[str] = ()) -> tuple:
        import json

        cmd = [sys.executable, "-m", "readmission.dagrun", "--conf", json.dumps(conf or {}), *args]
        done = subprocess.run(
            cmd, env={**self.env, **(extra or {})}, capture_output=True, text=True, timeout=900, check=False
        )
        output = done.stdout + done.stderr
        (self.log_dir / f"dagrun-{secrets.token_hex(3)}.log").write_text(output)
        summary = parse_summary(output)
        assert summary is not None, output[-5000:]
        return summary, output

    def counts(self) -> dict[str, int]:
        from readmission import storage

        raw = storage.get_engine(self.raw_url)
        clean = storage.get_engine(self.clean_url)
        out = {
            "raw": storage.count_rows(raw, storage.diabetes_raw),
            "log": storage.count_rows(raw, storage.ingestion_log),
            "clean": storage.count_rows(clean, storage.clean_table(storage.CLEAN_TABLE)),
        }
        for name, table in storage.SPLIT_TABLES.items():
            out[name] = storage.count_rows(clean, storage.clean_table(table))
        return out

    def batches(self) -> list[int]:
        from readmission import storage

        with storage.get_engine(self.raw_url).connect() as conn:
            return sorted(conn.execute(sa.select(storage.diabetes_raw.c.batch_number).distinct()).scalars())

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(self.tracking_uri)

    def versions(self) -> list[int]:
        return sorted(int(v.version) for v in self.client().search_model_versions(f"name='{self.model_name}'"))

    def champion(self) -> int:
        return int(self.client().get_model_version_by_alias(self.model_name, "champion").version)


def task_states(summary: dict) -> dict[str, str]:
    return {task: info["state"] for task, info in summary["tasks"].items()}


@contextmanager
def dag_stack(
    mariadb: services.MariaDB, s3: services.S3Server, mlflow_server: services.MlflowServer, base: Path
) -> Iterator[Stack]:
    """Fresh databases, a bucket, a model name, a data API with small batches; Airflow migrated in ``base``."""
    with ExitStack() as stack:
        data_api = stack.enter_context(services.data_api_server(base, batch_size=BATCH_SIZE, interval_seconds=0.5))
        bucket = s3.create_bucket(f"pipeline-{secrets.token_hex(3)}")
        model_name = f"readmission-dag-{secrets.token_hex(3)}"
        raw_url = mariadb.fresh_database("raw_data_db")
        clean_url = mariadb.fresh_database("clean_data_db")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PIPELINE_", "MLFLOW_"))},
            **services.S3_TEST_ENV,
            "AIRFLOW_HOME": str(base / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "ENVIRONMENT": "local",
            "LOCAL_DIR": str(base / "local"),
            "DATA_API_URL": data_api.url,
            "RAW_DATABASE_URL": raw_url,
            "CLEAN_DATABASE_URL": clean_url,
            "S3_ENDPOINT_URL": s3.endpoint_url,
            "DATASET_URI": f"s3://{bucket}/datasets",
            "STAGING_URI": f"s3://{bucket}/staging",
            "MLFLOW_TRACKING_URI": mlflow_server.tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "MLFLOW_EXPERIMENT_NAME": model_name,
            "MODEL_NAME": model_name,
            "TRAIN_MAX_CONFIGURATIONS": "1",
            "RETRAIN_MIN_NEW_ROWS": "1",  # every new batch is reason enough to retrain here
            "PIPELINE_RETRIES": "2",
            "PIPELINE_RETRY_DELAY_SECONDS": "0.1",
            "HTTP_RETRIES": "0",
            "HTTP_TIMEOUT_SECONDS": "10",
            # No inference API is running: signal_services must only warn.
            "API_URL": f"http://127.0.0.1:{services.free_port()}",
        }
        migrate = subprocess.run(
            [sys.executable, "-m", "readmission.dagrun", "--migrate-only"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        yield Stack(env, raw_url, clean_url, mlflow_server.tracking_uri, model_name, base)
