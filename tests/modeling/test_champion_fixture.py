"""The shared ``champion_model`` fixture: a real registered champion that scores raw records."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest

from readmission.modeling.run_log import raw_input_frame

pytestmark = [pytest.mark.integration, pytest.mark.model]


def test_champion_fixture_loads_and_scores_raw_records(champion_model, genuine_raw) -> None:
    tracking_uri, model_name, version = champion_model
    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri)
    assert client.get_model_version_by_alias(model_name, "champion").version == version
    model = mlflow.sklearn.load_model(f"models:/{model_name}@champion")
    proba = model.predict_proba(raw_input_frame(genuine_raw.head(20)))[:, 1]
    assert proba.shape == (20,)
    assert np.all((proba > 0) & (proba < 1))
