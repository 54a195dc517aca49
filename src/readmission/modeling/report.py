"""The best candidate evaluated: the threshold chosen on validation, metrics, per-group results, importance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from readmission import evaluation, schema
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


def evaluate(pipeline: Pipeline, *, validation: pd.DataFrame, test: pd.DataFrame | None, seed: int) -> Report:
    """Threshold chosen on validation; metrics on validation and test; per-group results and importance."""
    y_val = validation[LABEL].to_numpy()
    val_proba = pipeline.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    threshold = evaluation.choose_threshold(y_val, val_proba)
    metrics = {f"val_{k}": v for k, v in evaluation.score(y_val, val_proba, threshold).items()}
    groups = evaluation.group_results(validation, y_val, val_proba, threshold)
    metrics.update(evaluation.group_metrics("val", groups))
    y, proba, prefix = y_val, val_proba, "val"
    if test is not None and not test.empty:
        y = test[LABEL].to_numpy()
        proba = pipeline.predict_proba(test[list(schema.INPUT_COLUMNS)])[:, 1]
        metrics.update({f"test_{k}": v for k, v in evaluation.score(y, proba, threshold).items()})
        groups = evaluation.group_results(test, y, proba, threshold)
        metrics.update(evaluation.group_metrics("test", groups))
        prefix = "test"
    importance = evaluation.feature_importance(pipeline, validation, y_val, seed=seed)
    return Report(
        threshold=threshold,
        metrics={k: v for k, v in metrics.items() if not math.isnan(v)},
        groups=groups,
        y=y,
        proba=proba,
        prefix=prefix,
        importance=importance,
    )
