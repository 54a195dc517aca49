"""Inference API helpers: test settings, a real uvicorn server in a thread, a champion logged by the training code."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from readmission import schema
from readmission.config import Settings
from readmission.serving.records import EXAMPLE_RECORD
from tests.support import services

MODEL_NAME = "serving-test-model"
ADMIN_TOKEN = "test-admin-token-123"


@dataclass(frozen=True)
class Champion:
    tracking_uri: str
    name: str
    version: str


def register_champion(tracking_uri: str, name: str, pipeline: Any, threshold: float, *, alias: str = "champion") -> str:
    """Log ``pipeline`` with the training code's ``run_log.log_model``, register it and point ``alias`` at it."""
    import mlflow
    from mlflow import MlflowClient

    from readmission.modeling import run_log

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("serving-tests")
    metadata = {"threshold": threshold, "data_version": "test-data", "metrics": {"val_roc_auc": 0.6}}
    example = pd.DataFrame([EXAMPLE_RECORD] * 2, columns=list(schema.INPUT_COLUMNS))
    with mlflow.start_run():
        info = run_log.log_model(pipeline, example, metadata)
    version = str(mlflow.register_model(info.model_uri, name, tags={"threshold": str(threshold)}).version)
    MlflowClient(tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, alias, version)
    return version


def serving_settings(tmp_path: Path, tracking_uri: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "local_dir": tmp_path / "var",
        "mlflow_tracking_uri": tracking_uri,
        "model_name": MODEL_NAME,
        "model_cache_dir": tmp_path / "cache",
        "api_admin_token": ADMIN_TOKEN,
        "model_poll_seconds": 3600,
        "max_batch_records": 2000,
        **overrides,
    }
    return Settings(**values)


class UvicornThread:
    """A real uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start in 30 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
