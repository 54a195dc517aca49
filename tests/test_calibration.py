"""Choosing and applying the risk calibration."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from readmission import calibration, evaluation


def _miscalibrated(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 3, n)
    y = (rng.random(n) < truth).astype(int)
    patients = np.arange(n) // 2
    return np.sqrt(truth), y, patients  # overestimates every risk


def test_choose_fixes_a_miscalibrated_model_by_cross_fitted_brier():
    proba, y, patients = _miscalibrated(20_000)
    choice = calibration.choose(proba, y, patients)
    assert choice.method in ("sigmoid", "isotonic")
    assert choice.briers[choice.method] == min(choice.briers.values()) < choice.briers["none"]
    assert evaluation.expected_calibration_error(y, proba) > 0.1
    assert evaluation.expected_calibration_error(y, choice.out_of_fold) <= 0.02
    assert choice.out_of_fold.shape == proba.shape


def test_choose_keeps_a_calibrated_model_or_changes_it_by_nothing_that_matters():
    rng = np.random.default_rng(1)
    proba = rng.beta(2, 3, 20_000)
    y = (rng.random(len(proba)) < proba).astype(int)
    choice = calibration.choose(proba, y, np.arange(len(y)))
    assert choice.briers[choice.method] <= choice.briers["none"]
    assert choice.briers["none"] - choice.briers[choice.method] < 1e-3


@pytest.mark.parametrize("method", calibration.METHODS)
def test_one_value_path_equals_the_array_path(method):
    proba, y, _ = _miscalibrated(5_000, seed=2)
    risk_map = calibration.fit_map(method, proba, y)
    points = np.r_[np.linspace(-0.1, 1.1, 301), proba[:200]]
    expected = risk_map.apply(np.clip(points, 0, 1))
    got = np.array([risk_map.apply_one(float(p)) for p in np.clip(points, 0, 1)])
    assert np.allclose(got, expected, atol=1e-12)
    assert np.all(np.diff(risk_map.apply(np.linspace(0, 1, 101))) >= -1e-12)  # monotone


def test_calibrated_classifier_maps_the_wrapped_probability():
    x = np.zeros((10, 1))
    y = np.array([0, 1] * 5)
    inner = DummyClassifier(strategy="prior").fit(x, y)
    risk_map = calibration.RiskMap("sigmoid", slope=1.0, intercept=np.log(3))  # odds x3
    model = calibration.CalibratedClassifier(inner, risk_map)
    assert model.predict_proba(x)[:, 1] == pytest.approx(np.full(10, 0.75))
    assert model.predict_proba(x).sum(axis=1) == pytest.approx(np.ones(10))
    assert model.calibrate_one(0.5) == pytest.approx(0.75)
    assert list(model.classes_) == [0, 1]
    assert calibration.CalibratedClassifier(inner, None).predict_proba(x)[:, 1] == pytest.approx(np.full(10, 0.5))
