"""The search: the first ``TRAIN_MAX_CONFIGURATIONS`` candidates of each family, scored on validation.

A family's candidates come in a fixed order: its grid's configurations (ordered best-first),
then, for HistGradientBoosting, the seed bag of the best configuration tried (so a count of 1
fits one configuration and no bag; the default tries them all).

The budget counts configurations, never seconds: the same data and settings try the same
configurations and give the same models and metrics whatever the machine's load (a test trains
twice, once under an artificial CPU load, and compares). HistGradientBoosting stops early by
iterations without improvement on a seeded validation fraction, also load-independent.

The candidates share one feature computation and one encoder fit per encoder
kind: the features are stateless and the encoders deterministic, so the
assembled pipeline equals one fitted end to end (a test checks it).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from readmission import features, schema
from readmission.config import Settings
from readmission.modeling import candidates
from readmission.modeling.candidates import HIST_GB, LABEL, NumericMode

logger = logging.getLogger(__name__)


class NoTrainingDataError(RuntimeError):
    """A split needed for training is empty or has a single class."""


@dataclass
class Candidate:
    family: str
    params: dict[str, Any]
    pipeline: Pipeline
    val_roc_auc: float
    fit_seconds: float
    """Informational only: nothing in the search depends on it."""
    name: str = ""
    """A short, stable id: ``<family>_<n>`` for the grid's n-th configuration, ``<family>_bag`` for the seed bag."""
    val_metrics: dict[str, float] = field(default_factory=dict)
    """Validation ``roc_auc``, ``pr_auc``, ``brier`` and ``log_loss`` of the uncalibrated candidate."""

    @property
    def label(self) -> str:
        return f"{self.family}({', '.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"


@dataclass
class SweepResult:
    candidates: list[Candidate]
    seconds: float
    skipped: list[str] = field(default_factory=list)
    """Configurations not tried because of ``max_configurations``."""

    @property
    def best(self) -> Candidate:
        return max(self.candidates, key=lambda c: c.val_roc_auc)


def check_split(frame: pd.DataFrame, name: str) -> None:
    if frame.empty:
        raise NoTrainingDataError(f"the {name} split is empty: run `readmission prepare` first")
    if frame[LABEL].nunique() < 2:
        raise NoTrainingDataError(f"the {name} split has a single class; more data is needed")


def sweep(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    families: Sequence[str] = candidates.CANDIDATES,
    top_specialties: int = 10,
    seed: int = 42,
    max_configurations: int | None = None,
    threads: int = 1,
) -> SweepResult:
    """Fit the first ``max_configurations`` candidates (all: None) of each of ``families`` and score each on
    validation: the grid's configurations in order, then the HistGradientBoosting seed bag (counted as one).

    The features are computed once and each encoder kind is fitted once on
    ``train``. ``threads`` caps OpenMP/BLAS threads: on a small shared machine
    HistGradientBoosting with more threads than free cores spins and runs up to
    10x slower (it does not change the result).
    """
    if max_configurations is not None and max_configurations < 1:
        raise ValueError(f"max_configurations must be at least 1, not {max_configurations}")
    check_split(train, "train")
    check_split(validation, "validation")
    with threadpool_limits(limits=threads):
        return _sweep(
            train,
            validation,
            families=families,
            top_specialties=top_specialties,
            seed=seed,
            max_configurations=max_configurations,
        )


def sweep_with(
    train: pd.DataFrame, validation: pd.DataFrame, *, settings: Settings, families: Sequence[str]
) -> SweepResult:
    """:func:`sweep` with the encoder size, seed and configuration count of ``settings``."""
    return sweep(
        train,
        validation,
        families=families,
        top_specialties=settings.top_specialties,
        seed=settings.random_seed,
        max_configurations=settings.train_max_configurations,
    )


def _sweep(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    families: Sequence[str],
    top_specialties: int,
    seed: int,
    max_configurations: int | None,
) -> SweepResult:
    started = time.perf_counter()
    train = candidates.patient_ordered(train)
    step = features.RawRecordFeatures()
    train_features = step.transform(train[list(schema.INPUT_COLUMNS)])
    val_features = step.transform(validation[list(schema.INPUT_COLUMNS)])
    y_train = train[LABEL].to_numpy()
    y_val = validation[LABEL].to_numpy()
    encoded: dict[NumericMode, tuple[ColumnTransformer, np.ndarray, np.ndarray]] = {}
    result = SweepResult([], 0.0)
    for family in families:
        mode = candidates.numeric_mode(family)
        if mode not in encoded:
            encoder = candidates.make_encoder(top_specialties, mode)
            # fit_transform cross-fits the target encoding of the training rows (transform alone would leak)
            encoded[mode] = (encoder, encoder.fit_transform(train_features, y_train), encoder.transform(val_features))
        encoder, x_train, x_val = encoded[mode]
        configurations = candidates.grid(family)
        tried = configurations[:max_configurations]
        result.skipped += [f"{family}{params}" for params in configurations[len(tried) :]]
        fitted: list[Candidate] = []
        for index, params in enumerate(tried, start=1):
            fit_started = time.perf_counter()
            model = clone(candidates.classifier(family, params, seed)).fit(x_train, y_train)
            seconds = time.perf_counter() - fit_started
            fitted.append(
                _evaluated(family, params, encoder, model, seconds=seconds, x_val=x_val, y_val=y_val,
                           name=f"{family}_{index}")
            )  # fmt: skip
            result.candidates.append(fitted[-1])
        if family == HIST_GB and candidates.BAG_SEEDS > 1:
            best = max(fitted, key=lambda c: c.val_roc_auc)
            params = {**best.params, "seeds": candidates.BAG_SEEDS}
            if max_configurations is not None and max_configurations <= len(configurations):
                result.skipped.append(f"{family}{params}")
                continue
            fit_started = time.perf_counter()
            bag = candidates.seed_bag(best.pipeline.named_steps["model"], best.params, seed).fit(x_train, y_train)
            seconds = best.fit_seconds + time.perf_counter() - fit_started
            result.candidates.append(
                _evaluated(
                    family, params, encoder, bag, seconds=seconds, x_val=x_val, y_val=y_val, name=f"{family}_bag"
                )
            )
    result.seconds = time.perf_counter() - started
    if result.skipped:
        logger.info("%d configurations not tried (at most %s per family)", len(result.skipped), max_configurations)
    return result


def _evaluated(
    family: str,
    params: dict[str, Any],
    encoder: ColumnTransformer,
    model: ClassifierMixin,
    *,
    seconds: float,
    x_val: np.ndarray,
    y_val: np.ndarray,
    name: str,
) -> Candidate:
    """A fitted classifier scored on validation and assembled into its raw-record pipeline."""
    metrics = validation_metrics(y_val, model.predict_proba(x_val)[:, 1])
    pipeline = candidates.assemble(encoder, model)
    candidate = Candidate(family, dict(params), pipeline, metrics["roc_auc"], seconds, name, metrics)
    logger.info("candidate %s %s: val_roc_auc=%.4f in %.1f s", name, candidate.label, metrics["roc_auc"], seconds)
    return candidate


def validation_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier score and log loss of a candidate's (uncalibrated) validation risks."""
    metrics = {
        "roc_auc": float(roc_auc_score(y, proba)),
        "pr_auc": float(average_precision_score(y, proba)),
        "brier": float(brier_score_loss(y, proba)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }
    return {key: value for key, value in metrics.items() if not math.isnan(value)}
