"""Drift of the raw fields against a training reference: PSI, unseen codes, missing rates."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from readmission import drift, features

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def train(genuine_raw: pd.DataFrame) -> pd.DataFrame:
    return features.clean(genuine_raw.sample(20_000, random_state=1)).frame


@pytest.fixture(scope="module")
def reference(train: pd.DataFrame) -> dict:
    return json.loads(json.dumps(drift.build_reference(train, model_version="3")))  # as stored: JSON


def by_feature(results: list[drift.FeatureDrift]) -> dict[str, drift.FeatureDrift]:
    return {r.feature: r for r in results}


def test_psi_of_known_shares() -> None:
    expected = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)
    assert drift.psi({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}) == pytest.approx(expected)
    assert drift.psi({"a": 1.0}, {"a": 1.0}) == 0.0


def test_the_reference_covers_every_raw_field_but_ids_and_target(reference: dict) -> None:
    assert set(reference["features"]) == set(drift.monitored_columns())
    assert {"encounter_id", "patient_nbr", "readmitted"}.isdisjoint(reference["features"])
    assert reference["features"]["num_lab_procedures"]["kind"] == "numeric"
    assert len(reference["features"]["num_lab_procedures"]["edges"]) >= 5
    assert len(reference["features"]["diag_1"]["levels"]) == drift.TOP_LEVELS
    assert reference["model_version"] == "3"


def test_a_batch_like_the_training_data_does_not_drift(genuine_raw, train, reference) -> None:
    batch = genuine_raw[~genuine_raw["encounter_id"].isin(train["encounter_id"])].sample(15_000, random_state=2)
    results = drift.compare(batch, reference)  # raw rows against a reference built from clean rows
    assert max(r.psi for r in results) < 0.1, sorted(results, key=lambda r: -r.psi)[:3]
    rows = by_feature(results)
    # Missing categories are compared as missing on both sides (clean writes them as "Unknown").
    assert rows["payer_code"].missing_rate == pytest.approx(rows["payer_code"].reference_missing_rate, abs=0.03)
    assert rows["payer_code"].missing_rate > 0.3
    assert rows["diag_1"].unseen_share < 0.02
    assert drift.summary(results, 0.2)["drifted"] == []


def test_older_patients_drift_on_age(genuine_raw, reference) -> None:
    older = genuine_raw[genuine_raw["age"].isin(["[70-80)", "[80-90)", "[90-100)"])].sample(5000, random_state=3)
    results = drift.compare(older, reference)
    summary = drift.summary(results, 0.2)
    assert summary["max_feature"] == "age"
    assert "age" in summary["drifted"]
    assert by_feature(results)["age"].psi > 1


def test_codes_never_seen_in_training_are_counted(genuine_raw, reference) -> None:
    batch = genuine_raw.sample(200, random_state=4)
    batch.loc[batch.index[:50], "diag_1"] = "999.99"
    row = by_feature(drift.compare(batch, reference))["diag_1"]
    assert row.unseen_share == pytest.approx(50 / 200, abs=0.02)


def test_missing_and_all_null_columns_are_drift_not_errors(genuine_raw, reference) -> None:
    batch = genuine_raw.sample(500, random_state=5).drop(columns=["age", "race"])
    batch["A1Cresult"] = None
    batch["num_medications"] = float("nan")
    rows = by_feature(drift.compare(batch, reference))
    assert rows["age"].note == "column missing from the batch"
    assert rows["A1Cresult"].note == "every value is missing"
    for name in ("age", "race", "A1Cresult", "num_medications"):
        assert rows[name].missing_rate == 1.0
        assert rows[name].psi > 1, name
    assert rows["gender"].psi < 0.1


def test_an_empty_batch_scores_zero_with_a_note(genuine_raw, reference) -> None:
    results = drift.compare(genuine_raw.head(0), reference)
    assert {r.note for r in results} == {"empty batch"}
    assert all(r.psi == 0 for r in results)
