"""Faults around MLflow: training fails clearly and its retry works; the API keeps serving."""

from __future__ import annotations

import pytest

from tests.support import scenarios
from tests.support.splits import grouped_splits

pytestmark = pytest.mark.faults


def test_mlflow_down_during_training_fails_the_task_and_the_retry_registers(mlflow_server, genuine_raw, tmp_path):
    splits = grouped_splits(genuine_raw, train_rows=3000)
    outcome = scenarios.mlflow_down_during_training(mlflow_server, splits, tmp_path)
    first, retry = outcome.details["attempts"]
    assert "ok" not in first
    assert retry.startswith("ok")
    assert outcome.details["version"] is not None
    assert outcome.recovered


def test_mlflow_down_while_serving_keeps_every_prediction(champion_model, genuine_records, tmp_path):
    tracking_uri, name, _ = champion_model
    outcome = scenarios.mlflow_down_while_serving(tracking_uri, name, genuine_records, tmp_path)
    assert outcome.details == {"failed_requests": 0, "reload_while_down": 503, "reload_after": 200}
    assert outcome.recovered


def test_mlflow_down_at_api_start_serves_the_cached_champion(champion_model, genuine_records, tmp_path):
    tracking_uri, name, _ = champion_model
    outcome = scenarios.mlflow_down_at_api_start_with_a_cache(tracking_uri, name, genuine_records, tmp_path)
    assert outcome.details == {"ready": 200, "source": "cache", "answered": 50}
    assert outcome.recovered
