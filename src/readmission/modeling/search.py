"""The time-boxed search: every configuration of the candidate families, scored on validation ROC-AUC.

The candidates share one feature computation and one encoder fit per encoder
kind: the features are stateless and the encoders deterministic, so the
assembled pipeline equals one fitted end to end (a test checks it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import roc_auc_score
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

    @property
    def label(self) -> str:
        return f"{self.family}({', '.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"


@dataclass
class SweepResult:
    candidates: list[Candidate]
    seconds: float
    skipped: list[str] = field(default_factory=list)
    """Configurations not tried because the time budget was spent."""

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
    budget_seconds: float = 60.0,
    threads: int = 1,
) -> SweepResult:
    """Fit every configuration of ``families`` (time-boxed) and score each on validation ROC-AUC.

    The features are computed once and each encoder kind is fitted once on
    ``train``; the first configuration of every family always runs, later
    ones only when they are expected to end within ``budget_seconds``. ``threads`` caps OpenMP/BLAS threads:
    on a small shared machine HistGradientBoosting with more threads than free
    cores spins and runs up to 10x slower.
    """
    check_split(train, "train")
    check_split(validation, "validation")
    with threadpool_limits(limits=threads):
        return _sweep(
            train,
            validation,
            families=families,
            top_specialties=top_specialties,
            seed=seed,
            budget_seconds=budget_seconds,
        )


def sweep_with(
    train: pd.DataFrame, validation: pd.DataFrame, *, settings: Settings, families: Sequence[str]
) -> SweepResult:
    """:func:`sweep` with the encoder size, seed and time budget of ``settings``."""
    return sweep(
        train,
        validation,
        families=families,
        top_specialties=settings.top_specialties,
        seed=settings.random_seed,
        budget_seconds=settings.train_time_budget_seconds,
    )


def _sweep(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    *,
    families: Sequence[str],
    top_specialties: int,
    seed: int,
    budget_seconds: float,
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
        slowest = 0.0
        fitted: list[Candidate] = []
        for index, params in enumerate(candidates.grid(family)):
            # skip when the next fit would likely end past the budget (estimated by this family's slowest fit)
            if index > 0 and time.perf_counter() - started + slowest > budget_seconds:
                result.skipped.append(f"{family}{params}")
                continue
            fit_started = time.perf_counter()
            model = clone(candidates.classifier(family, params, seed)).fit(x_train, y_train)
            seconds = time.perf_counter() - fit_started
            slowest = max(slowest, seconds)
            fitted.append(_evaluated(family, params, encoder, model, seconds=seconds, x_val=x_val, y_val=y_val))
            result.candidates.append(fitted[-1])
        if family == HIST_GB and candidates.BAG_SEEDS > 1:
            best = max(fitted, key=lambda c: c.val_roc_auc)
            params = {**best.params, "seeds": candidates.BAG_SEEDS}
            if time.perf_counter() - started + slowest * (candidates.BAG_SEEDS - 1) > budget_seconds:
                result.skipped.append(f"{family}{params}")
            else:
                fit_started = time.perf_counter()
                bag = candidates.seed_bag(best.pipeline.named_steps["model"], best.params, seed).fit(x_train, y_train)
                seconds = best.fit_seconds + time.perf_counter() - fit_started
                result.candidates.append(
                    _evaluated(family, params, encoder, bag, seconds=seconds, x_val=x_val, y_val=y_val)
                )
    result.seconds = time.perf_counter() - started
    if result.skipped:
        logger.info("time budget of %.0f s spent; skipped %d configurations", budget_seconds, len(result.skipped))
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
) -> Candidate:
    """A fitted classifier scored on validation and assembled into its raw-record pipeline."""
    auc = float(roc_auc_score(y_val, model.predict_proba(x_val)[:, 1]))
    candidate = Candidate(family, dict(params), candidates.assemble(encoder, model), auc, seconds)
    logger.info("candidate %s: val_roc_auc=%.4f in %.1f s", candidate.label, auc, seconds)
    return candidate
