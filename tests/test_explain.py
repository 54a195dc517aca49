"""Exact contributions summed to raw fields, and a calibrated model through the fast path and skops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
from sklearn.pipeline import Pipeline

from readmission import calibration, explain, modeling, schema
from readmission.modeling.run_log import raw_input_frame
from readmission.serving.fastpath import FastPredictor


@pytest.fixture(scope="module")
def calibrated_bag(small_splits) -> Pipeline:
    """A two-member HistGradientBoosting seed bag, calibrated on validation (small and quick)."""
    train = modeling.patient_ordered(small_splits["train"])
    members = [
        (f"seed_{seed}", HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=seed))
        for seed in (1, 2)
    ]
    bag = modeling.make_pipeline(VotingClassifier(members, voting="soft"), top_specialties=10)
    bag.fit(train[list(schema.INPUT_COLUMNS)], train["label"].to_numpy())
    validation = small_splits["validation"]
    proba = bag.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    choice = calibration.choose(proba, validation["label"].to_numpy(), validation["patient_nbr"].to_numpy())
    model = calibration.CalibratedClassifier(bag.steps[-1][1], choice.risk_map)
    return Pipeline([*bag.steps[:-1], ("model", model)])


def test_contributions_plus_expected_value_equal_the_raw_output(calibrated_bag, small_splits):
    explainer = explain.Explainer(calibrated_bag)
    frame = small_splits["test"].head(60)
    table = explainer.contributions(frame)
    raw = explainer.raw_output(explainer.encode(frame[list(schema.INPUT_COLUMNS)]))
    assert np.allclose(table.sum(axis=1).to_numpy() + explainer.expected_value, raw, atol=1e-9)
    # the raw output is the calibrated risk's input: the model's risk is the map of the members' mean log-odds
    assert not np.allclose(table.to_numpy(), 0)
    known = set(schema.INPUT_COLUMNS) | {explain.PRIOR_VISITS_FACTOR, explain.MEDICATIONS_FACTOR}
    assert set(table.columns) <= known
    assert {"diag_1", "discharge_disposition_id", "number_inpatient", "age"} <= set(table.columns)
    assert not {"diag_1_code", "diag_1_group", "age_years"} & set(table.columns)


def test_top_factors_name_raw_fields_with_values_in_order(calibrated_bag, small_splits):
    explainer = explain.Explainer(calibrated_bag)
    frame = small_splits["test"].head(3)
    tops = explainer.top_factors(frame, top=5)
    assert len(tops) == 3
    for factors, (_, record) in zip(tops, frame.iterrows(), strict=True):
        assert len(factors) == 5
        sizes = [abs(f["contribution"]) for f in factors]
        assert sizes == sorted(sizes, reverse=True)
        for factor in factors:
            assert factor["description"]
            if factor["field"] in schema.BY_NAME:
                value = record[factor["field"]]
                assert factor["value"] == (None if pd.isna(value) else value)


def test_a_model_other_than_trees_is_refused(small_splits):
    from sklearn.linear_model import LogisticRegression

    pipeline = modeling.make_pipeline(LogisticRegression(), top_specialties=10)
    with pytest.raises(explain.UnexplainableModelError, match="histogram gradient boosting"):
        explain.Explainer(pipeline)


def test_fast_path_compiles_the_calibrated_model(calibrated_bag, small_splits):
    predictor = FastPredictor(calibrated_bag)
    assert predictor.kind.startswith("compiled:soft-vote-2x")
    assert "calibration" in predictor.kind
    records = raw_input_frame(small_splits["test"].head(200)).to_dict("records")
    assert predictor.verify(records) < 1e-9
    assert predictor.compiled
    expected = calibrated_bag.predict_proba(small_splits["test"].head(200)[list(schema.INPUT_COLUMNS)])[:, 1]
    assert np.allclose([predictor.predict_record(r) for r in records], expected, atol=1e-12)


def test_calibrated_model_survives_skops(calibrated_bag, small_splits):
    import skops.io

    from readmission.modeling.run_log import SKOPS_TRUSTED_TYPES

    loaded = skops.io.loads(skops.io.dumps(calibrated_bag), trusted=SKOPS_TRUSTED_TYPES)
    frame = small_splits["test"].head(100)[list(schema.INPUT_COLUMNS)]
    assert np.array_equal(loaded.predict_proba(frame), calibrated_bag.predict_proba(frame))
