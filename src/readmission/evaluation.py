"""Honest evaluation: metrics at a validation-chosen threshold, per-group results, plots, model card."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from readmission import features, schema

logger = logging.getLogger(__name__)

GROUP_COLUMNS: tuple[str, ...] = ("race", "gender", "age")
"""Per-group ROC-AUC and positive rate are reported for these raw columns."""
MIN_GROUP_SIZE = 30


def choose_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    """The decision threshold that maximises F1 on (validation) data."""
    precision, recall, thresholds = precision_recall_curve(y, proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.nanargmax(f1[:-1])) if len(thresholds) else 0
    return float(thresholds[best]) if len(thresholds) else 0.5


def score(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking, calibration and thresholded metrics of positive-class probabilities."""
    predicted = (proba >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, proba)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, proba)) if both else math.nan,
        "brier": float(brier_score_loss(y, proba)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "positive_rate": float(predicted.mean()),
        "observed_rate": float(np.mean(y)),
    }


def group_results(frame: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float) -> pd.DataFrame:
    """ROC-AUC, predicted and observed positive rate per race, gender and age band."""
    rows = []
    predicted = proba >= threshold
    for column in GROUP_COLUMNS:
        values = frame[column].astype(object).where(frame[column].notna(), features.UNKNOWN).to_numpy()
        for level in sorted(set(values), key=str):
            mask = values == level
            n = int(mask.sum())
            auc = (
                float(roc_auc_score(y[mask], proba[mask]))
                if n >= MIN_GROUP_SIZE and len(np.unique(y[mask])) == 2
                else math.nan
            )
            rows.append(
                {
                    "group": column,
                    "level": str(level),
                    "n": n,
                    "roc_auc": auc,
                    "positive_rate": float(predicted[mask].mean()),
                    "observed_rate": float(y[mask].mean()),
                }
            )
    return pd.DataFrame(rows)


def metric_key(*parts: str) -> str:
    """An MLflow-safe metric name (``[70-80)`` becomes ``70-80``)."""
    return "_".join(re.sub(r"[^A-Za-z0-9_.\-]+", "", part.replace("/", "-")) for part in parts)


def group_metrics(prefix: str, groups: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {}
    for row in groups.itertuples():
        for name in ("roc_auc", "positive_rate"):
            value = float(getattr(row, name))
            if not math.isnan(value):
                out[metric_key(prefix, "group", str(row.group), str(row.level), name)] = value
    return out


def calibration_table(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    return pd.DataFrame({"mean_predicted": predicted, "observed_rate": observed})


def feature_importance(
    pipeline: Pipeline, frame: pd.DataFrame, y: np.ndarray, *, rows: int = 1000, repeats: int = 3, seed: int = 42
) -> pd.DataFrame:
    """Permutation importance (ROC-AUC drop) of the engineered features on a subsample.

    The stateless feature step runs once; every permuted copy is stacked and
    scored by ``encode`` + ``model`` in a single call (much faster than one call per copy).
    """
    rng = np.random.default_rng(seed)
    take = rng.choice(len(frame), size=min(rows, len(frame)), replace=False)
    engineered = pipeline.named_steps["features"].transform(frame.iloc[take][list(schema.INPUT_COLUMNS)])
    engineered = engineered.reset_index(drop=True)
    y_sub = y[take]
    rest = Pipeline(pipeline.steps[1:])
    names = list(engineered.columns)
    copies = [engineered]
    for name in names:
        for _ in range(repeats):
            copy = engineered.copy()
            copy[name] = copy[name].to_numpy()[rng.permutation(len(copy))]
            copies.append(copy)
    proba = rest.predict_proba(pd.concat(copies, ignore_index=True))[:, 1].reshape(len(copies), len(engineered))
    base = roc_auc_score(y_sub, proba[0])
    drops = np.array([base - roc_auc_score(y_sub, row) for row in proba[1:]]).reshape(len(names), repeats)
    table = pd.DataFrame({"feature": names, "importance_mean": drops.mean(axis=1), "importance_std": drops.std(axis=1)})
    return table.sort_values("importance_mean", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- plots


def save_plots(
    folder: Path, y: np.ndarray, proba: np.ndarray, threshold: float, importance: pd.DataFrame, prefix: str = "test"
) -> list[Path]:
    """ROC, PR, calibration, confusion matrix and permutation-importance PNGs (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = folder / f"{prefix}_{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)

    fpr, tpr, _ = roc_curve(y, proba)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC {roc_auc_score(y, proba):.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title=f"ROC ({prefix})")
    ax.legend(loc="lower right")
    save(fig, "roc")

    precision, recall, _ = precision_recall_curve(y, proba)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(recall, precision, label=f"AP {average_precision_score(y, proba):.3f}")
    ax.axhline(float(np.mean(y)), linestyle="--", color="grey")
    ax.set(xlabel="Recall", ylabel="Precision", title=f"Precision-recall ({prefix})")
    ax.legend(loc="upper right")
    save(fig, "pr")

    calibration = calibration_table(y, proba)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(calibration["mean_predicted"], calibration["observed_rate"], "o-")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="Mean predicted probability", ylabel="Observed rate", title=f"Calibration ({prefix})")
    save(fig, "calibration")

    matrix = confusion_matrix(y, (proba >= threshold).astype(int), labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center")
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["no", "yes"],
        yticklabels=["no", "yes"],
        xlabel="Predicted",
        ylabel="Actual",
        title=f"Confusion @ {threshold:.3f}",
    )
    save(fig, "confusion_matrix")

    top = importance.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["importance_mean"], xerr=top["importance_std"])
    ax.set(xlabel="ROC-AUC drop when permuted", title="Permutation importance (validation subsample)")
    save(fig, "permutation_importance")
    return paths


# --------------------------------------------------------------------------- model card


def _table(rows: Sequence[Mapping[Any, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "n/a" if math.isnan(value) else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def model_card(
    *,
    model_name: str,
    candidate: str,
    target: str,
    data_version: str,
    rows: Mapping[str, int],
    threshold: float,
    metrics: Mapping[str, float],
    groups: pd.DataFrame,
    leaderboard: Sequence[Mapping[str, Any]],
    importance: pd.DataFrame,
) -> str:
    """A markdown model card: data, target, metrics, per-group results, intended use, limitations."""
    target_text = "readmitted within 30 days" if target == "within_30_days" else "readmitted at all (<30 or >30 days)"
    metric_rows = [
        {
            "metric": name,
            "validation": metrics.get(f"val_{name}", math.nan),
            "test": metrics.get(f"test_{name}", math.nan),
        }
        for name in ("roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "f1", "precision", "recall")
    ]
    return f"""# Model card: {model_name}

**Model**: `{candidate}`, a scikit-learn Pipeline `features -> encode -> model` whose input
is the raw encounter record (the {len(schema.INPUT_COLUMNS)} fields of `schema.INPUT_COLUMNS`).
**Decision threshold**: {threshold:.4f} (maximum F1 on validation).

## Data
UCI "Diabetes 130-US hospitals" (1999-2008). Data version `{data_version}`.
Rows: {", ".join(f"{k} {v:,}" for k, v in rows.items())}. Split by patient
(a patient is in one split only). Encounters ending in death or hospice are excluded.

## Target
`label` = 1 when the encounter was {target_text} (`READMISSION_TARGET={target}`).

## Metrics
{_table(metric_rows, ["metric", "validation", "test"])}

## Candidates (selection by validation ROC-AUC)
{_table(leaderboard, ["candidate", "val_roc_auc", "fit_seconds"])}

## Per-group results (test)
{_table(groups.to_dict("records"), ["group", "level", "n", "roc_auc", "positive_rate", "observed_rate"])}

## Most important features (permutation, validation subsample)
{_table(importance.head(10).to_dict("records"), ["feature", "importance_mean", "importance_std"])}

## Intended use
Decision support: flag diabetic inpatients at discharge for follow-up planning.
Not for denying care, and not a substitute for clinical judgement.

## Limitations
- Data from 1999-2008 US hospitals; practice and coding have changed since (ICD-10).
- Readmissions to other hospitals are not recorded, so some positives are missed.
- Discrimination is moderate (ROC-AUC about 0.7); per-group results differ and
  small groups (e.g. `Unknown/Invalid` gender) have too few rows to judge.
- Race is used as a feature only because it is in the source data; monitor per-group rates.
"""
