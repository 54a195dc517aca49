"""The best candidate calibrated and evaluated: calibration chosen on validation, the threshold, risk bands,
metrics with patient-clustered bootstrap intervals, per-group results, importance."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from readmission import calibration, evaluation, schema
from readmission.modeling.candidates import LABEL


@dataclass(frozen=True)
class Report:
    """The best candidate evaluated: threshold, metrics, and the split the plots and card describe."""

    threshold: float
    metrics: dict[str, float]
    groups: pd.DataFrame
    y: np.ndarray
    proba: np.ndarray
    prefix: str
    """``test`` when a test split was given, else ``val``: the split of ``groups``, ``y`` and ``proba``."""
    importance: pd.DataFrame
    pipeline: Pipeline | None = None
    """The calibrated pipeline (the one logged)."""
    calibration: dict[str, Any] = field(default_factory=dict)
    """The chosen method and every method's cross-fitted validation Brier score."""
    bands: evaluation.Bands | None = None
    band_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per split (``val``, ``test``): share of patients and observed rate per band."""
    intervals: dict[str, evaluation.Interval] = field(default_factory=dict)
    """Patient-clustered bootstrap 95 % intervals on the report split."""
    uncalibrated: np.ndarray | None = None
    """The report split's risks before calibration (for the reliability plot)."""


def calibrate(pipeline: Pipeline, validation: pd.DataFrame) -> tuple[Pipeline, calibration.Choice]:
    """Choose the calibration on validation (patient-grouped cross-fitting) and wrap the classifier with it."""
    raw = pipeline.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    choice = calibration.choose(raw, validation[LABEL].to_numpy(), validation["patient_nbr"].to_numpy())
    model = calibration.CalibratedClassifier(pipeline.steps[-1][1], choice.risk_map)
    return Pipeline([*pipeline.steps[:-1], ("model", model)]), choice


def evaluate(
    pipeline: Pipeline,
    *,
    validation: pd.DataFrame,
    test: pd.DataFrame | None,
    seed: int,
    target: str = "any",
    base_rate: float | None = None,
    replicates: int = evaluation.BOOTSTRAP_REPLICATES,
) -> Report:
    """Calibrate on validation, then: threshold (max F1) and bands on the cross-fitted validation risks;
    metrics, calibration, bands, bootstrap intervals and per-group results on test."""
    calibrated, choice = calibrate(pipeline, validation)
    y_val = validation[LABEL].to_numpy()
    val_risk = choice.out_of_fold  # honest: each validation patient's risk from a map fitted without them
    threshold = evaluation.choose_threshold(y_val, val_risk)
    bands = evaluation.fit_bands(float(np.mean(y_val)) if base_rate is None else base_rate, val_risk, target)
    metrics = {f"val_{k}": v for k, v in evaluation.score(y_val, val_risk, threshold).items()}
    metrics.update({f"val_{k}": v for k, v in evaluation.calibration_metrics(y_val, val_risk).items()})
    metrics.update({f"val_calibration_brier_{m}": v for m, v in choice.briers.items()})
    band_tables = {"val": evaluation.band_table(y_val, val_risk, bands)}
    metrics.update(evaluation.band_metrics("val", band_tables["val"]))
    frame, y, proba, prefix = validation, y_val, val_risk, "val"
    uncalibrated = pipeline.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    if test is not None and not test.empty:
        frame, y, prefix = test, test[LABEL].to_numpy(), "test"
        uncalibrated = pipeline.predict_proba(test[list(schema.INPUT_COLUMNS)])[:, 1]
        proba = choice.risk_map.apply(uncalibrated)
        metrics.update({f"test_{k}": v for k, v in evaluation.score(y, proba, threshold).items()})
        metrics.update({f"test_{k}": v for k, v in evaluation.calibration_metrics(y, proba).items()})
        band_tables["test"] = evaluation.band_table(y, proba, bands)
        metrics.update(evaluation.band_metrics("test", band_tables["test"]))
    patients = frame["patient_nbr"].to_numpy()
    intervals = evaluation.bootstrap_intervals(y, proba, patients, replicates=replicates, seed=seed)
    metrics.update(evaluation.interval_metrics(prefix, intervals))
    groups = evaluation.group_results(frame, y, proba, threshold, replicates=replicates, seed=seed)
    metrics.update(evaluation.group_metrics(prefix, groups))
    importance = evaluation.feature_importance(calibrated, validation, y_val, seed=seed)
    return Report(
        threshold=threshold,
        metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
        groups=groups,
        y=y,
        proba=proba,
        prefix=prefix,
        importance=importance,
        pipeline=calibrated,
        calibration={"method": choice.method, "briers": choice.briers},
        bands=bands,
        band_tables=band_tables,
        intervals=intervals,
        uncalibrated=uncalibrated,
    )
