"""Honest evaluation: metrics at a validation-chosen threshold, calibration, risk bands, patient-clustered
bootstrap intervals, the paired promotion statistics, per-group results, plots, model card."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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

from readmission import codes, schema

logger = logging.getLogger(__name__)

GROUP_COLUMNS: tuple[str, ...] = ("race", "gender", "age")
"""Per-group results are reported for these raw columns."""
MIN_GROUP_SIZE = 300
"""Groups with fewer encounters are too small to judge and are left out of the per-group results."""
BOOTSTRAP_REPLICATES = 200
CALIBRATION_BINS = 10
KEY_METRICS: tuple[str, ...] = (
    "val_roc_auc", "val_pr_auc", "val_brier", "val_f1",
    "test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_accuracy", "test_f1",
)  # fmt: skip
"""The metrics a logged model carries in its metadata and a registered version in its tags."""


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


def group_results(
    frame: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    *,
    replicates: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Per race, gender and age band with at least ``MIN_GROUP_SIZE`` encounters: ROC-AUC (with a
    patient-clustered bootstrap interval when ``replicates``), observed vs predicted rate, TPR/FPR at ``threshold``."""
    rows = []
    predicted = proba >= threshold
    patients = frame["patient_nbr"].to_numpy() if "patient_nbr" in frame else np.arange(len(frame))
    for column in GROUP_COLUMNS:
        values = frame[column].astype(object).where(frame[column].notna(), codes.UNKNOWN).to_numpy()
        for level in sorted(set(values), key=str):
            mask = values == level
            n = int(mask.sum())
            if n < MIN_GROUP_SIZE:
                continue
            y_g, p_g, flag = y[mask], proba[mask], predicted[mask]
            both = len(np.unique(y_g)) == 2
            interval = (
                bootstrap_intervals(y_g, p_g, patients[mask], replicates=replicates, seed=seed, metrics=("roc_auc",))
                if replicates and both
                else {}
            )
            auc = interval["roc_auc"] if interval else None
            positives, negatives = int(y_g.sum()), int(n - y_g.sum())
            rows.append(
                {
                    "group": column,
                    "level": str(level),
                    "n": n,
                    "roc_auc": float(roc_auc_score(y_g, p_g)) if both else math.nan,
                    "roc_auc_low": auc.low if auc else math.nan,
                    "roc_auc_high": auc.high if auc else math.nan,
                    "observed_rate": float(y_g.mean()),
                    "predicted_rate": float(p_g.mean()),
                    "positive_rate": float(flag.mean()),
                    "tpr": float(flag[y_g == 1].mean()) if positives else math.nan,
                    "fpr": float(flag[y_g == 0].mean()) if negatives else math.nan,
                }
            )
    return pd.DataFrame(rows, columns=list(GROUP_RESULT_COLUMNS))


GROUP_RESULT_COLUMNS: tuple[str, ...] = (
    "group", "level", "n", "roc_auc", "roc_auc_low", "roc_auc_high", "observed_rate", "predicted_rate",
    "positive_rate", "tpr", "fpr",
)  # fmt: skip


# --------------------------------------------------------------------------- calibration


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE: the row-weighted mean |observed rate - mean predicted risk| over ``bins`` equal-count bins."""
    order = np.argsort(proba, kind="stable")
    y_sorted, p_sorted = np.asarray(y, dtype=float)[order], np.asarray(proba, dtype=float)[order]
    total = 0.0
    for part_y, part_p in zip(np.array_split(y_sorted, bins), np.array_split(p_sorted, bins), strict=True):
        if len(part_y):
            total += len(part_y) * abs(float(part_y.mean()) - float(part_p.mean()))
    return total / max(len(y_sorted), 1)


def logit(proba: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    clipped = np.clip(np.asarray(proba, dtype=float), eps, 1 - eps)
    return np.log(clipped / (1 - clipped))


def calibration_slope_intercept(y: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """Cox recalibration: ``logit P(y) = intercept + slope * logit(risk)`` (perfect: slope 1, intercept 0)."""
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=np.inf).fit(logit(proba)[:, None], np.asarray(y))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def calibration_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``ece``, ``calibration_slope`` and ``calibration_intercept`` of risks ``proba``."""
    slope, intercept = calibration_slope_intercept(y, proba)
    return {
        "ece": expected_calibration_error(y, proba),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


# --------------------------------------------------------------------------- risk bands

HIGH_RISK_MULTIPLE: dict[str, float] = {"any": 1.4, "within_30_days": 1.5}
"""A risk is "high" from this multiple of the outcome's base rate (observed rate of the training patients)."""
MAX_HIGH_SHARE = 0.20
"""... and "high" never holds more than this share of the validation patients (the cut rises if needed)."""
BAND_POLICY = (
    "low: calibrated risk at or below the base rate (an average patient or better); "
    "medium: above the base rate; high: at least {multiple:g}x the base rate and never more than "
    "the riskiest {share:.0%} of validation patients"
)


@dataclass(frozen=True)
class Bands:
    """Cut points on calibrated absolute risk, relative to the outcome's base rate."""

    base_rate: float
    medium_from: float
    high_from: float
    policy: str

    def band(self, risk: float) -> str:
        if risk >= self.high_from:
            return "high"
        return "medium" if risk > self.medium_from else "low"

    def bands(self, risks: np.ndarray) -> np.ndarray:
        return np.where(risks >= self.high_from, "high", np.where(risks > self.medium_from, "medium", "low"))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Bands:
        return cls(float(values["base_rate"]), float(values["medium_from"]), float(values["high_from"]),
                   str(values.get("policy", "")))  # fmt: skip


def fit_bands(base_rate: float, risks: np.ndarray, target: str, *, max_high_share: float = MAX_HIGH_SHARE) -> Bands:
    """The band policy for ``target`` applied to the validation patients' calibrated ``risks``."""
    multiple = HIGH_RISK_MULTIPLE[target]
    ordered = np.sort(np.asarray(risks, dtype=float))
    levels = np.unique(ordered)
    shares = 1.0 - np.searchsorted(ordered, levels, side="left") / max(len(ordered), 1)
    allowed = levels[shares <= max_high_share]
    share_cut = float(allowed.min()) if len(allowed) else float(np.nextafter(ordered[-1], np.inf))
    return Bands(
        base_rate=float(base_rate),
        medium_from=float(base_rate),
        high_from=max(multiple * float(base_rate), share_cut),
        policy=BAND_POLICY.format(multiple=multiple, share=max_high_share),
    )


BAND_NAMES: tuple[str, ...] = ("low", "medium", "high")


def band_table(y: np.ndarray, risks: np.ndarray, bands: Bands) -> pd.DataFrame:
    """Per band: share of patients, observed rate, mean risk and the observed rate as a multiple of the base rate."""
    names = bands.bands(np.asarray(risks, dtype=float))
    rows = []
    for name in BAND_NAMES:
        mask = names == name
        n = int(mask.sum())
        observed = float(np.mean(y[mask])) if n else math.nan
        rows.append(
            {
                "band": name,
                "n": n,
                "share": n / max(len(names), 1),
                "observed_rate": observed,
                "mean_risk": float(np.mean(risks[mask])) if n else math.nan,
                "rate_vs_base": observed / bands.base_rate if n and bands.base_rate else math.nan,
            }
        )
    return pd.DataFrame(rows)


def band_metrics(prefix: str, table: pd.DataFrame) -> dict[str, float]:
    """``{prefix}_band_{band}_share`` / ``_observed_rate`` / ``_rate_vs_base`` (NaN left out)."""
    out: dict[str, float] = {}
    for row in table.itertuples():
        for name in ("share", "observed_rate", "rate_vs_base"):
            value = float(getattr(row, name))
            if not math.isnan(value):
                out[f"{prefix}_band_{row.band}_{name}"] = value
    return out


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def cluster_weights(clusters: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """``replicates`` x rows weights of a cluster bootstrap: each row weighs the times its cluster was drawn.

    Drawing patients with replacement and keeping all their encounters is the same as
    weighting every encounter by its patient's draw count, which the metrics accept.
    """
    codes, uniques = pd.factorize(np.asarray(clusters))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniques), size=(replicates, len(uniques)))
    counts = np.stack([np.bincount(row, minlength=len(uniques)) for row in draws])
    return counts[:, codes].astype(float)


class _Ranked:
    """Rows sorted once by score, with tie groups: weighted ROC-AUC, PR-AUC and Brier for many weightings at once.

    A bootstrap replicate only re-weights rows, so the order never changes: each metric is
    a few cumulative sums over tie groups (equal to scikit-learn's weighted metrics, a test checks).
    """

    def __init__(self, y: np.ndarray, proba: np.ndarray) -> None:
        order = np.argsort(proba, kind="stable")
        self.order = order
        self.y = np.asarray(y, dtype=float)[order]
        self.proba = np.asarray(proba, dtype=float)[order]
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.proba) != 0])
        self.squared = (self.proba - self.y) ** 2

    def _groups(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = weights[:, self.order]
        positive = np.add.reduceat(w * self.y, self.starts, axis=1)
        negative = np.add.reduceat(w * (1 - self.y), self.starts, axis=1)
        return positive, negative

    def metrics(self, weights: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        """``{name: one value per row of weights}``; NaN where a weighting has one class only."""
        positive, negative = self._groups(weights)
        total_pos, total_neg = positive.sum(axis=1), negative.sum(axis=1)
        valid = (total_pos > 0) & (total_neg > 0)
        out: dict[str, np.ndarray] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            if "roc_auc" in names:
                below = np.cumsum(negative, axis=1) - negative
                auc = (positive * (below + 0.5 * negative)).sum(axis=1) / (total_pos * total_neg)
                out["roc_auc"] = np.where(valid, auc, np.nan)
            if "pr_auc" in names:  # thresholds from the highest score down
                tp = np.cumsum(positive[:, ::-1], axis=1)
                fp = np.cumsum(negative[:, ::-1], axis=1)
                precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
                ap = (positive[:, ::-1] * precision).sum(axis=1) / total_pos
                out["pr_auc"] = np.where(valid, ap, np.nan)
            if "brier" in names:
                w = weights[:, self.order]
                out["brier"] = (w @ self.squared) / w.sum(axis=1)
        return out


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if not len(finite):
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_intervals(
    y: np.ndarray,
    proba: np.ndarray,
    clusters: np.ndarray,
    *,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
    metrics: Sequence[str] = ("roc_auc", "pr_auc", "brier"),
) -> dict[str, Interval]:
    """Percentile intervals of ``metrics`` from a bootstrap over ``clusters`` (patients)."""
    ranked = _Ranked(y, proba)
    estimates = ranked.metrics(np.ones((1, len(ranked.y))), metrics)
    replicated = ranked.metrics(cluster_weights(clusters, replicates, seed), metrics)
    return {name: Interval(float(estimates[name][0]), *_percentiles(replicated[name], level)) for name in metrics}


def interval_metrics(prefix: str, intervals: Mapping[str, Interval]) -> dict[str, float]:
    """``{prefix}_{metric}_ci_low`` / ``_ci_high`` (the point estimates are logged by ``score``)."""
    out = {}
    for name, interval in intervals.items():
        out[f"{prefix}_{name}_ci_low"] = interval.low
        out[f"{prefix}_{name}_ci_high"] = interval.high
    return {k: v for k, v in out.items() if not math.isnan(v)}


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on the same rows: the promotion gate's statistics and decision."""

    rows: int
    patients: int
    challenger_roc_auc: float
    champion_roc_auc: float
    delta: float
    delta_low: float
    delta_high: float
    challenger_brier: float
    champion_brier: float
    min_delta: float
    replicates: int
    promote: bool
    reason: str

    def as_tags(self) -> dict[str, str]:
        return {f"promotion_{k}": (f"{v:.6f}" if isinstance(v, float) else str(v)) for k, v in asdict(self).items()}


def compare_models(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    clusters: np.ndarray,
    *,
    min_delta: float,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
    level: float = 0.95,
) -> Comparison:
    """Promote only when the lower bound of the paired, patient-clustered bootstrap interval of
    ROC-AUC(challenger) - ROC-AUC(champion) is above ``min_delta`` and the Brier score is not worse."""
    weights = cluster_weights(clusters, replicates, seed)
    ones = np.ones((1, len(y)))
    new, old = _Ranked(y, challenger), _Ranked(y, champion)
    new_point, old_point = new.metrics(ones, ("roc_auc", "brier")), old.metrics(ones, ("roc_auc", "brier"))
    differences = new.metrics(weights, ("roc_auc",))["roc_auc"] - old.metrics(weights, ("roc_auc",))["roc_auc"]
    low, high = _percentiles(differences, level)
    new_auc, old_auc = float(new_point["roc_auc"][0]), float(old_point["roc_auc"][0])
    new_brier, old_brier = float(new_point["brier"][0]), float(old_point["brier"][0])
    better_auc = low > min_delta
    brier_ok = new_brier <= old_brier
    promote = better_auc and brier_ok
    reason = (
        f"ROC-AUC {new_auc:.4f} vs champion {old_auc:.4f}: difference {new_auc - old_auc:+.4f}, "
        f"{level:.0%} interval [{low:+.4f}, {high:+.4f}] (lower bound {'above' if better_auc else 'not above'} "
        f"PROMOTION_MIN_DELTA={min_delta:g}); Brier {new_brier:.4f} vs {old_brier:.4f} "
        f"({'not worse' if brier_ok else 'worse'}); {len(y)} rows, {len(np.unique(clusters))} patients"
    )
    return Comparison(
        rows=len(y),
        patients=len(np.unique(clusters)),
        challenger_roc_auc=new_auc,
        champion_roc_auc=old_auc,
        delta=new_auc - old_auc,
        delta_low=low,
        delta_high=high,
        challenger_brier=new_brier,
        champion_brier=old_brier,
        min_delta=float(min_delta),
        replicates=replicates,
        promote=promote,
        reason=reason,
    )


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
    import matplotlib  # matplotlib takes a second to import: only when plots are saved

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


def save_reliability_plot(
    folder: Path, y: np.ndarray, uncalibrated: np.ndarray, calibrated: np.ndarray, prefix: str = "test"
) -> Path:
    """Observed rate against mean risk per decile, before and after calibration, with each ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, proba in (("model", uncalibrated), ("calibrated", calibrated)):
        table = calibration_table(y, proba)
        ece = expected_calibration_error(y, proba)
        ax.plot(table["mean_predicted"], table["observed_rate"], "o-", label=f"{name} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="Mean predicted risk", ylabel="Observed rate", title=f"Reliability ({prefix})")
    ax.legend(loc="upper left")
    path = folder / f"{prefix}_reliability.png"
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
    calibration: Mapping[str, Any] | None = None,
    bands: Bands | None = None,
    band_tables: Mapping[str, pd.DataFrame] | None = None,
    intervals: Mapping[str, Interval] | None = None,
) -> str:
    """A markdown model card: data, target, metrics, calibration, bands, per-group results, use, limitations."""
    target_text = "readmitted within 30 days" if target == "within_30_days" else "readmitted at all (<30 or >30 days)"
    interval_rows = [
        {"metric": name, "estimate": i.estimate, "ci_low": i.low, "ci_high": i.high}
        for name, i in (intervals or {}).items()
    ]
    calibration_rows = [
        {"split": split, **{k: metrics.get(f"{split}_{k}", math.nan) for k in ("ece", "calibration_slope",
                                                                          "calibration_intercept", "brier")}}
        for split in ("val", "test")
    ]  # fmt: skip
    band_text = ""
    if bands is not None:
        band_text = (
            f"Policy: {bands.policy}. Base rate {bands.base_rate:.3f}; medium above {bands.medium_from:.3f}, "
            f"high from {bands.high_from:.3f}.\n\n"
        )
        for split, table in (band_tables or {}).items():
            band_text += (
                f"{split}:\n\n"
                + _table(table.to_dict("records"), ["band", "n", "share", "observed_rate", "mean_risk", "rate_vs_base"])
                + "\n\n"
            )
    method = (calibration or {}).get("method", "none")
    briers = ", ".join(f"{k} {v:.5f}" for k, v in ((calibration or {}).get("briers") or {}).items())
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
**Decision threshold**: {threshold:.4f}, chosen to maximise F1 (the balance of precision and recall of
`prediction`) on the cross-fitted calibrated validation risks; the bands below do not depend on it.

## Data
UCI "Diabetes 130-US hospitals" (1999-2008). Data version `{data_version}`.
Rows: {", ".join(f"{k} {v:,}" for k, v in rows.items())}. Split by patient
(a patient is in one split only). Encounters ending in death or hospice are excluded.

## Target
`label` = 1 when the encounter was {target_text} (`READMISSION_TARGET={target}`).

## Metrics
{_table(metric_rows, ["metric", "validation", "test"])}

## Uncertainty (patient-clustered bootstrap, 95 % intervals)
{_table(interval_rows, ["metric", "estimate", "ci_low", "ci_high"]) if interval_rows else "not computed"}

## Calibration
Method `{method}`, chosen by the lowest cross-fitted Brier score on the patient-grouped validation
split (neither fitted the model nor is the test split): {briers or "n/a"}. Validation figures are
out-of-fold. Goal: ECE <= 0.02.

{_table(calibration_rows, ["split", "ece", "calibration_slope", "calibration_intercept", "brier"])}

## Risk bands
{band_text or "not computed"}
## Candidates (selection by validation ROC-AUC)
{_table(leaderboard, ["candidate", "val_roc_auc", "fit_seconds"])}

## Per-group results (test)
Groups of at least {MIN_GROUP_SIZE} encounters; TPR/FPR at the decision threshold.

{
        _table(
            groups.to_dict("records"),
            [
                "group",
                "level",
                "n",
                "roc_auc",
                "roc_auc_low",
                "roc_auc_high",
                "observed_rate",
                "predicted_rate",
                "tpr",
                "fpr",
            ],
        )
    }

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
