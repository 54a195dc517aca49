"""A running inference API with a real champion model for the UI tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services

UI_MODEL_NAME = "ui-test-model"


def _champion(request: pytest.FixtureRequest, mlflow_server: services.MlflowServer) -> tuple[str, str]:
    """(tracking URI, model name) of a registered champion.

    Uses the shared ``champion_model`` fixture when tests/conftest.py has it; until then a
    small real model is trained on genuine rows and registered the way training does.
    """
    try:
        champion = request.getfixturevalue("champion_model")
    except pytest.FixtureLookupError:
        from readmission import features, schema
        from tests.serving.conftest import make_pipeline, register_champion

        os.environ.update(services.S3_TEST_ENV)
        from sklearn.linear_model import LogisticRegression

        frame = features.clean(request.getfixturevalue("genuine_raw")).frame.sample(6000, random_state=3)
        pipeline = make_pipeline(LogisticRegression(max_iter=500))
        pipeline.fit(frame[list(schema.INPUT_COLUMNS)], frame["label"])
        register_champion(mlflow_server.tracking_uri, UI_MODEL_NAME, pipeline, threshold=0.45)
        return mlflow_server.tracking_uri, UI_MODEL_NAME
    name = getattr(champion, "name", None) or getattr(champion, "model_name", None) or champion["name"]
    uri = getattr(champion, "tracking_uri", None) or mlflow_server.tracking_uri
    return uri, name


@pytest.fixture(scope="session")
def inference_api(
    request: pytest.FixtureRequest, mlflow_server: services.MlflowServer, service_dir: Path
) -> Iterator[str]:
    """Base URL of a real inference API serving a real champion."""
    tracking_uri, name = _champion(request, mlflow_server)
    with services.api_server(tracking_uri, name, service_dir) as url:
        yield url
