"""Live input drift of the API: a bounded window, gauges per raw field, the reference of the served version."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from readmission import drift, features
from readmission.config import Settings
from readmission.data_api.loading import to_records
from readmission.serving.drift_monitor import DriftMonitor
from readmission.serving.metrics import ServingMetrics

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def reference(genuine_raw: pd.DataFrame) -> dict:
    reference = drift.build_reference(features.clean(genuine_raw.sample(8000, random_state=1)).frame)
    reference["risk_shares"] = drift.risk_shares([0.1, 0.2, 0.4, 0.7])
    return reference


def monitor(tmp_path: Path, reference: dict | None, window: int = 300) -> tuple[DriftMonitor, ServingMetrics]:
    if reference is not None:
        (tmp_path / "drift-reference-v4.json").write_text(json.dumps(reference))
    metrics = ServingMetrics()
    settings = Settings(api_drift_window=window, local_dir=tmp_path)
    return DriftMonitor(settings, metrics, lambda: ("4", None), tmp_path), metrics


def gauges(metrics: ServingMetrics, name: str) -> dict[str, float]:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return {next(iter(s.labels.values()), ""): s.value for f in families for s in f.samples if s.name == name}


def test_the_window_keeps_the_last_records_only(tmp_path: Path, genuine_raw: pd.DataFrame) -> None:
    watcher, _ = monitor(tmp_path, None, window=100)
    for record in to_records(genuine_raw.head(250)):
        watcher.observe_record(record)
    watcher.observe_frame(genuine_raw.iloc[1000:1060])
    watcher.observe_frame(genuine_raw.iloc[2000:2200])
    window = watcher.snapshot()
    assert len(window) == 100
    assert set(window["encounter_id"]) <= set(genuine_raw.iloc[2000:2200]["encounter_id"]) | set(
        genuine_raw.head(250)["encounter_id"]
    )


def test_old_patients_show_as_age_drift_in_the_gauges(tmp_path: Path, reference: dict, genuine_raw) -> None:
    watcher, metrics = monitor(tmp_path, reference)
    older = genuine_raw[genuine_raw["age"].isin(["[80-90)", "[90-100)"])].sample(300, random_state=2)
    for record in to_records(older):
        watcher.observe_record(record)
    results = watcher.update()
    assert results is not None
    psi = gauges(metrics, "readmission_input_drift_psi")
    assert set(psi) == set(drift.monitored_columns())  # the bounded label set: the raw fields
    assert psi["age"] > 1
    assert psi["gender"] < 0.2
    assert gauges(metrics, "readmission_input_drift_window_records")[""] == 300
    training = gauges(metrics, "readmission_training_predicted_risk_ratio")
    assert training["0.5"] == 0.75
    assert training["1.0"] == 1.0


def test_without_a_reference_nothing_is_claimed(tmp_path: Path, genuine_raw) -> None:
    watcher, metrics = monitor(tmp_path, None)
    watcher.observe_record(to_records(genuine_raw.head(1))[0])
    assert watcher.update() is None
    assert gauges(metrics, "readmission_input_drift_psi") == {}
