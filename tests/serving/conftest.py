"""Serving fixtures: the session's real champion (tests/conftest.py ``champion_model``) and apps pointed at it.

The hot-swap test needs a second, different model: the original GradientBoosting
configuration fitted by ``modeling.fit_baseline`` and logged by ``run_log.log_model``
(the training code's own functions), registered under its own name.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from readmission import features, schema
from readmission.config import Settings
from readmission.data_api.loading import to_records
from readmission.serving.records import EXAMPLE_RECORD
from tests import services

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


@pytest.fixture(scope="session")
def genuine_records(genuine_raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Genuine rows as the data API serves them (``readmitted`` included: the API ignores it); death and
    hospice discharges, which the API refuses, left out."""
    covered = ~genuine_raw["discharge_disposition_id"].isin(sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))
    return to_records(genuine_raw[covered].sample(1500, random_state=11))


@pytest.fixture(scope="session")
def serving_champion(champion_model: tuple[str, str, str]) -> Champion:
    """The session's real champion (trained, logged and promoted by the package's training code)."""
    os.environ.update(services.S3_TEST_ENV)
    tracking_uri, name, version = champion_model
    return Champion(tracking_uri, name, str(version))


@pytest.fixture(scope="session")
def second_pipeline(genuine_raw: pd.DataFrame):
    """A different model (the baseline GradientBoosting of ``modeling``) to promote during the hot-swap test."""
    from readmission import modeling

    train = features.clean(genuine_raw).frame.sample(3000, random_state=7)
    return modeling.fit_baseline(train, top_specialties=10, seed=0)


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


@pytest.fixture
def settings(tmp_path: Path, serving_champion: Champion) -> Settings:
    return serving_settings(tmp_path, serving_champion.tracking_uri, model_name=serving_champion.name)


@pytest.fixture
def client(settings: Settings):
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    app = create_app(settings)
    with TestClient(app) as test_client:
        assert app.state.manager.wait_until_loaded(60), app.state.manager.unavailable_reason()
        yield test_client


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


@pytest.fixture
def live_server(settings: Settings) -> Iterator[UvicornThread]:
    from readmission.serving import create_app

    app = create_app(settings)
    with UvicornThread(app) as server:
        assert app.state.manager.wait_until_loaded(60), app.state.manager.unavailable_reason()
        server.app = app  # type: ignore[attr-defined]
        yield server
