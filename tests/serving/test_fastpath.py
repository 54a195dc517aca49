"""The compiled fast path of the champion's own kind: target-encoded codes and the soft-voted seed bag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from readmission import features, schema
from readmission.modeling import candidates, search
from readmission.serving.fastpath import FastPredictor, synthetic_records
from tests.support.splits import grouped_splits

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def seed_bag(genuine_raw):
    splits = grouped_splits(genuine_raw, train_rows=3000)
    result = search.sweep(splits["train"], splits["validation"], families=(candidates.HIST_GB,))
    bag = result.candidates[-1]
    assert bag.params["seeds"] == candidates.BAG_SEEDS
    return bag.pipeline


def test_seed_bag_compiles_and_equals_the_pipeline(seed_bag, genuine_records) -> None:
    predictor = FastPredictor(seed_bag)
    assert predictor.kind == f"compiled:soft-vote-{candidates.BAG_SEEDS}x-hist-gradient-boosting-codegen"
    records = genuine_records[:300] + synthetic_records(200, seed=3)
    assert predictor.verify(records) < 1e-12
    assert predictor.compiled  # verify would have disabled a path that differs

    frame = pd.DataFrame(records, columns=list(schema.INPUT_COLUMNS))
    expected = seed_bag.predict_proba(frame)[:, 1]
    np.testing.assert_allclose([predictor.predict_record(r) for r in records], expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(predictor.predict_frame(frame), expected, rtol=1e-9, atol=1e-12)


def test_unseen_codes_score_with_the_training_mean(seed_bag, genuine_records) -> None:
    """A valid code the training rows never had is encoded as the training mean, not rejected."""
    predictor = FastPredictor(seed_bag)
    record = dict(genuine_records[0])
    unseen = {**record, "diag_1": "V99", "medical_specialty": "Never-Seen-Specialty"}
    expected = seed_bag.predict_proba(pd.DataFrame([unseen], columns=list(schema.INPUT_COLUMNS)))[0, 1]
    assert predictor.predict_record(unseen) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    codes = seed_bag.named_steps["encode"].named_transformers_["codes"]
    assert "V99" not in set(codes.categories_[0])
    engineered = pd.DataFrame([features.engineer_record(unseen)])[list(candidates.TARGET_ENCODED)]
    encoded = codes.transform(engineered)[0]
    assert encoded[0] == pytest.approx(codes.target_mean_)  # diag_1_code
    assert encoded[-1] == pytest.approx(codes.target_mean_)  # medical_specialty
