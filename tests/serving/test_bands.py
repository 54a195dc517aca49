"""The risk-band rule exists once (``evaluation.Bands``): serving applies it, to a model logged without bands too."""

from __future__ import annotations

import math

import numpy as np
import pytest

from readmission.evaluation import Bands
from readmission.serving.model_manager import LoadedModel
from readmission.serving.outcomes import outcome_entries, outcome_entry

pytestmark = pytest.mark.unit


def _model(threshold: float, bands: Bands | None) -> LoadedModel:
    return LoadedModel(name="m", version="3", alias="champion", run_id=None, threshold=threshold, metadata={},
                       signature_inputs=None, predictor=None, source="cache", bands=bands)  # type: ignore[arg-type]  # fmt: skip


def _old_legacy_band(risk: float, threshold: float) -> str:
    """The rule serving used for such models before (high from the threshold, medium from 75 % of it)."""
    if risk >= threshold:
        return "high"
    return "medium" if risk >= 0.75 * threshold else "low"


@pytest.mark.parametrize("threshold", [0.34, 0.4, 0.5, 0.123456789])
def test_a_model_without_bands_keeps_its_bands_at_every_edge(threshold):
    model = _model(threshold, None)
    medium = 0.75 * threshold
    risks = [0.0, math.nextafter(medium, 0), medium, math.nextafter(medium, 1), (medium + threshold) / 2,
             math.nextafter(threshold, 0), threshold, math.nextafter(threshold, 1), 0.99, 1.0]  # fmt: skip
    expected = [_old_legacy_band(r, threshold) for r in risks]
    assert min(expected.count(band) for band in ("low", "medium", "high")) >= 2
    assert [outcome_entry(model, r)["risk_band"] for r in risks] == expected
    entries = outcome_entries(model, np.array(risks))
    assert [e["risk_band"] for e in entries] == expected
    assert {(e["base_rate"], e["relative_risk"]) for e in entries} == {(None, None)}


def test_a_model_with_bands_uses_them_one_by_one_and_by_array():
    bands = Bands(base_rate=0.11, medium_from=0.11, high_from=0.17, policy="test")
    model = _model(0.2, bands)
    risks = np.array([0.05, 0.11, math.nextafter(0.11, 1), 0.15, math.nextafter(0.17, 0), 0.17, 0.18, 0.5])
    expected = [bands.band(float(r)) for r in risks]
    assert expected == ["low", "low", "medium", "medium", "medium", "high", "high", "high"]
    one = [outcome_entry(model, float(r)) for r in risks]
    assert outcome_entries(model, risks) == one  # the batch path answers exactly what /predict answers
    assert [e["prediction"] for e in one] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert one[-1]["relative_risk"] == pytest.approx(0.5 / 0.11)
