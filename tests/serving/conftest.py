"""Serving fixtures: a real MLflow server with a real champion, and apps pointed at it.

``serving_champion`` uses the session fixture ``champion_model`` from
tests/conftest.py when it exists; until then it trains a small model the same
way (raw-record Pipeline, skops, registered, alias ``champion``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from readmission import features, schema
from readmission.config import Settings
from tests import services

MODEL_NAME = "serving-test-model"
ADMIN_TOKEN = "test-admin-token-123"
SKOPS_TRUSTED_TYPES = [
    "readmission.features.RawRecordFeatures",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.ensemble._gb.VerboseReporter",
    "sklearn.dummy.DummyClassifier",
    "collections.OrderedDict",
]


@dataclass(frozen=True)
class Champion:
    tracking_uri: str
    name: str
    version: str


def make_pipeline(classifier: Any):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    others = [name for name in features.CATEGORICAL_FEATURES if name != "medical_specialty"]
    encoder = ColumnTransformer(
        [
            ("num", StandardScaler(), list(features.NUMERIC_FEATURES)),
            (
                "specialty",
                OneHotEncoder(max_categories=11, handle_unknown="infrequent_if_exist", sparse_output=False),
                ["medical_specialty"],
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), others),
        ]
    )
    return Pipeline([("features", features.RawRecordFeatures()), ("encode", encoder), ("model", classifier)])


def api_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Raw rows as the data API serves them: None for missing, Python ints (no readmitted)."""
    out = []
    for row in frame[list(schema.INPUT_COLUMNS)].to_dict("records"):
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()})
    return out


def register_champion(tracking_uri: str, name: str, pipeline: Any, threshold: float, *, alias: str = "champion") -> str:
    """Log ``pipeline`` like the training code does, register it and point ``alias`` at it."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("serving-tests")
    metadata = {"threshold": threshold, "data_version": "test-data", "metrics": {"roc_auc": 0.6}}
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            pip_requirements=["scikit-learn", "pandas"],
            metadata=metadata,
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            pyfunc_predict_fn="predict_proba",
        )
    version = str(mlflow.register_model(info.model_uri, name, tags={"threshold": str(threshold)}).version)
    MlflowClient(tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, alias, version)
    return version


@pytest.fixture(scope="session")
def training_frame(genuine_raw: pd.DataFrame) -> pd.DataFrame:
    return features.clean(genuine_raw).frame.sample(6000, random_state=7)


@pytest.fixture(scope="session")
def genuine_records(genuine_raw: pd.DataFrame) -> list[dict[str, Any]]:
    return api_records(genuine_raw.sample(1500, random_state=11))


@pytest.fixture(scope="session")
def serving_champion(request: pytest.FixtureRequest, mlflow_server: services.MlflowServer, training_frame) -> Champion:
    """A real champion in the real MLflow server (a logistic regression on genuine rows)."""
    from sklearn.linear_model import LogisticRegression

    os.environ.update(services.S3_TEST_ENV)
    pipeline = make_pipeline(LogisticRegression(max_iter=500))
    pipeline.fit(training_frame[list(schema.INPUT_COLUMNS)], training_frame["label"])
    version = register_champion(mlflow_server.tracking_uri, MODEL_NAME, pipeline, threshold=0.45)
    return Champion(mlflow_server.tracking_uri, MODEL_NAME, version)


@pytest.fixture(scope="session")
def second_pipeline(training_frame):
    """A different model (gradient boosting) to promote during the hot-swap test."""
    from sklearn.ensemble import GradientBoostingClassifier

    pipeline = make_pipeline(GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=0))
    return pipeline.fit(training_frame[list(schema.INPUT_COLUMNS)], training_frame["label"])


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
