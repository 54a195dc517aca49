"""Calibrated risk: the model's probability mapped to an observed readmission rate.

The map is fitted on patient-grouped rows that neither fitted the model nor are
the test split (the validation split). ``choose`` cross-fits each method
(``none``, ``sigmoid``: Platt scaling on the log-odds, ``isotonic``) over
patient-grouped folds of those rows and keeps the lowest out-of-fold Brier
score; its out-of-fold risks are the honest validation risks (ECE, bands).
``CalibratedClassifier`` wraps the fitted classifier with the chosen map, so
the logged model itself returns calibrated risk; the fast path reads the
same fitted numbers (``calibrate_one``).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold

from readmission.evaluation import logit

METHODS: tuple[str, ...] = ("none", "sigmoid", "isotonic")
"""In order of preference when Brier scores tie (the simplest first)."""
CALIBRATION_FOLDS = 5


@dataclass(frozen=True)
class RiskMap:
    """A fitted monotone map from a model probability to a calibrated risk."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()

    def apply(self, proba: np.ndarray) -> np.ndarray:
        proba = np.asarray(proba, dtype=np.float64)
        if self.method == "sigmoid":
            return np.asarray(1.0 / (1.0 + np.exp(-(self.intercept + self.slope * logit(proba)))))
        if self.method == "isotonic":
            return np.interp(proba, self.knots_x, self.knots_y)
        return proba

    def apply_one(self, proba: float) -> float:
        """``apply`` for one Python float (no numpy: the per-request path)."""
        if self.method == "sigmoid":
            p = min(max(proba, 1e-6), 1 - 1e-6)
            return 1.0 / (1.0 + math.exp(-(self.intercept + self.slope * math.log(p / (1 - p)))))
        if self.method == "isotonic":
            xs, ys = self.knots_x, self.knots_y
            if proba <= xs[0]:
                return ys[0]
            if proba >= xs[-1]:
                return ys[-1]
            i = bisect.bisect_right(xs, proba)
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 + (y1 - y0) * (proba - x0) / (x1 - x0) if x1 > x0 else y1
        return proba


def fit_map(method: str, proba: np.ndarray, y: np.ndarray) -> RiskMap:
    """Fit ``method`` on (probability, outcome) pairs."""
    if method == "none":
        return RiskMap("none")
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        fit = LogisticRegression(C=np.inf).fit(logit(proba)[:, None], y)
        return RiskMap("sigmoid", slope=float(fit.coef_[0, 0]), intercept=float(fit.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba, y)
        return RiskMap(
            "isotonic",
            knots_x=tuple(float(v) for v in iso.X_thresholds_),
            knots_y=tuple(float(v) for v in iso.y_thresholds_),
        )
    raise ValueError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")


@dataclass(frozen=True)
class Choice:
    """The chosen map, every method's out-of-fold Brier score, and the chosen method's out-of-fold risks."""

    risk_map: RiskMap
    briers: dict[str, float]
    out_of_fold: np.ndarray = field(repr=False)

    @property
    def method(self) -> str:
        return self.risk_map.method


def choose(
    proba: np.ndarray,
    y: np.ndarray,
    patients: np.ndarray,
    *,
    folds: int = CALIBRATION_FOLDS,
    methods: tuple[str, ...] = METHODS,
) -> Choice:
    """Cross-fit every method over patient-grouped folds; keep the lowest out-of-fold Brier (refit on all rows)."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    splits = list(GroupKFold(n_splits=min(folds, len(np.unique(patients)))).split(proba, y, patients))
    briers: dict[str, float] = {}
    out_of_fold: dict[str, np.ndarray] = {}
    for method in methods:
        predicted = np.empty_like(proba)
        for fit_rows, score_rows in splits:
            predicted[score_rows] = fit_map(method, proba[fit_rows], y[fit_rows]).apply(proba[score_rows])
        out_of_fold[method] = predicted
        briers[method] = float(np.mean((predicted - y) ** 2))
    best = min(methods, key=lambda m: (round(briers[m], 12), methods.index(m)))
    return Choice(fit_map(best, proba, y), briers, out_of_fold[best])


class CalibratedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier whose positive-class probability goes through a fitted ``RiskMap``."""

    def __init__(self, estimator: Any = None, risk_map: RiskMap | None = None) -> None:
        self.estimator = estimator
        self.risk_map = risk_map

    @property
    def classes_(self) -> np.ndarray:
        return np.asarray(self.estimator.classes_)

    @property
    def method(self) -> str:
        return self.risk_map.method if self.risk_map else "none"

    def fit(self, X: Any, y: Any = None) -> CalibratedClassifier:
        """Already fitted: the wrapped classifier and the map are fitted by ``choose`` (kept as they are)."""
        return self

    def uncalibrated_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X)[:, 1], dtype=np.float64)

    def calibrate(self, proba: np.ndarray) -> np.ndarray:
        return self.risk_map.apply(proba) if self.risk_map else np.asarray(proba, dtype=np.float64)

    def calibrate_one(self, proba: float) -> float:
        return self.risk_map.apply_one(proba) if self.risk_map else proba

    def predict_proba(self, X: Any) -> np.ndarray:
        risk = self.calibrate(self.uncalibrated_proba(X))
        return np.column_stack([1.0 - risk, risk])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def __sklearn_is_fitted__(self) -> bool:
        return self.estimator is not None
