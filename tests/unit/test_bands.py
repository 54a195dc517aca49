"""The risk band rule: one record and a batch give the same band, with the documented cut points."""

from __future__ import annotations

import numpy as np
import pytest

from readmission.serving.bands import risk_band, risk_bands

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("risk", "band"),
    [(0.0, "low"), (0.2999, "low"), (0.3001, "medium"), (0.3999, "medium"), (0.4, "high"), (1.0, "high")],
)
def test_high_from_the_threshold_medium_from_three_quarters_of_it(risk: float, band: str) -> None:
    assert risk_band(risk, 0.4) == band
    assert risk_bands(np.array([risk]), 0.4).tolist() == [band]


def test_one_record_and_a_batch_agree() -> None:
    risks = np.random.default_rng(0).random(2000)
    for threshold in (0.1, 0.37, 0.5):
        assert risk_bands(risks, threshold).tolist() == [risk_band(r, threshold) for r in risks.tolist()]
