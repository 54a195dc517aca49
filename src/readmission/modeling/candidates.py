"""The candidate models: the encoder, the raw-record pipelines, the model families and the seed bag.

Every candidate is one complete sklearn ``Pipeline`` whose input is the RAW
record (``schema.INPUT_COLUMNS``)::

    Pipeline([("features", features.RawRecordFeatures()),
              ("encode", ColumnTransformer([...])),
              ("model", classifier)])

``encode`` is deliberately simple so that the serving layer can rebuild a fast
per-record path from the fitted steps: ``num`` (numeric features, passed
through or standard-scaled), ``specialty`` (one-hot, top ``TOP_SPECIALTIES``
plus an infrequent bucket), ``cat`` (one-hot, unknown levels ignored) and
``codes`` (the detailed ICD-9-CM and IDS codes and the specialty, target-encoded
with cross-fitting; unseen codes get the training mean). Rows are fitted in
patient-hash order (:func:`patient_ordered`), so the encoder's contiguous folds
never put one patient on both sides of a fold.

The histogram gradient-boosting family ends with a seed bag: its best
configuration refitted with other seeds (other early-stopping rows and feature
subsamples) and soft-voted, a ``VotingClassifier`` the serving layer compiles.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from readmission import features, schema, split

LABEL = "label"
NumericMode = Literal["passthrough", "scale"]

BASELINE = "baseline_gb"
LOGISTIC = "logistic"
HIST_GB = "hist_gb"
CANDIDATES: tuple[str, ...] = (BASELINE, LOGISTIC, HIST_GB)
"""Every candidate family; training fits all of them by default."""

BASELINE_PARAMS: dict[str, Any] = {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 3}
"""The original project's GradientBoosting configuration (never weakened)."""

LOGISTIC_GRID: tuple[dict[str, Any], ...] = ({"C": 0.1},)
HIST_GB_GRID: tuple[dict[str, Any], ...] = (
    {
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 200,
        "l2_regularization": 3.0,
        "max_features": 0.5,
    },
    {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 100, "l2_regularization": 1.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 50, "l2_regularization": 0.0},
)
"""Ordered best-first: the search tries the first ``TRAIN_MAX_CONFIGURATIONS`` of them (then the seed bag)."""
BAG_SEEDS = 3
"""Members of the seed bag of the best HistGradientBoosting configuration (1 disables it)."""
TARGET_ENCODER_FOLDS = 5
TARGET_ENCODED: tuple[str, ...] = (*features.CODE_FEATURES, "medical_specialty")


def check_families(families: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the valid families when ``families`` holds an unknown one."""
    unknown = set(families) - set(CANDIDATES)
    if unknown:
        raise ValueError(f"unknown candidate families {sorted(unknown)}; choose from {', '.join(CANDIDATES)}")


def make_encoder(top_specialties: int, numeric: NumericMode = "passthrough") -> ColumnTransformer:
    """The encoding step: numeric passthrough/scaler, one-hot specialty (top N + Other), one-hot categories,
    target-encoded codes (fit it on rows in ``split.patient_order``: the folds are contiguous)."""
    others = [name for name in features.CATEGORICAL_FEATURES if name not in TARGET_ENCODED]
    return ColumnTransformer(
        [
            ("num", StandardScaler() if numeric == "scale" else "passthrough", list(features.NUMERIC_FEATURES)),
            (
                "specialty",
                OneHotEncoder(
                    max_categories=top_specialties + 1, handle_unknown="infrequent_if_exist", sparse_output=False
                ),
                ["medical_specialty"],
            ),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), others),
            ("codes", TargetEncoder(cv=KFold(TARGET_ENCODER_FOLDS)), list(TARGET_ENCODED)),
        ],
        remainder="drop",
        verbose_feature_names_out=True,
    )


def make_pipeline(classifier: ClassifierMixin, top_specialties: int, numeric: NumericMode = "passthrough") -> Pipeline:
    """A complete, unfitted raw-record pipeline around ``classifier``."""
    return assemble(make_encoder(top_specialties, numeric), classifier)


def assemble(encoder: ColumnTransformer, classifier: ClassifierMixin) -> Pipeline:
    """The raw-record pipeline of ``encoder`` and ``classifier`` (fitted or not) behind the feature step."""
    return Pipeline([("features", features.RawRecordFeatures()), ("encode", encoder), ("model", classifier)])


def baseline_classifier(seed: int) -> GradientBoostingClassifier:
    return GradientBoostingClassifier(**BASELINE_PARAMS, random_state=seed)


def fit_baseline(train: pd.DataFrame, *, top_specialties: int, seed: int) -> Pipeline:
    """The original GradientBoosting configuration, fitted end to end on ``train``."""
    train = patient_ordered(train)
    pipeline = make_pipeline(baseline_classifier(seed), top_specialties)
    return pipeline.fit(train[list(schema.INPUT_COLUMNS)], train[LABEL].to_numpy())


def patient_ordered(train: pd.DataFrame) -> pd.DataFrame:
    """``train`` in patient-hash order, so the target encoder's contiguous folds are patient-grouped."""
    return train.iloc[split.patient_order(train["patient_nbr"])].reset_index(drop=True)


def numeric_mode(family: str) -> NumericMode:
    """How ``family`` wants the numeric features: standard-scaled for the logistic model, else as they are."""
    return "scale" if family == LOGISTIC else "passthrough"


def classifier(family: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
    """An unfitted classifier of ``family`` with ``params``."""
    if family == BASELINE:
        return baseline_classifier(seed)
    if family == LOGISTIC:
        return LogisticRegression(**params, max_iter=2000)
    if family == HIST_GB:
        return HistGradientBoostingClassifier(
            **params,
            max_iter=1000,
            early_stopping=True,
            validation_fraction=0.1,
            n_iter_no_change=20,
            random_state=seed,
        )
    raise ValueError(f"unknown candidate family {family!r}; choose from {', '.join(CANDIDATES)}")


def seed_bag(fitted: HistGradientBoostingClassifier, params: dict[str, Any], seed: int) -> VotingClassifier:
    """``fitted`` (kept as it is) soft-voted with ``BAG_SEEDS - 1`` refits of its configuration on other seeds."""
    members: list[tuple[str, Any]] = [(f"seed_{seed}", FrozenEstimator(fitted))]
    members += [(f"seed_{seed + k}", classifier(HIST_GB, params, seed + k)) for k in range(1, BAG_SEEDS)]
    return VotingClassifier(members, voting="soft")


def grid(family: str) -> tuple[dict[str, Any], ...]:
    """The configurations searched for ``family``, in order."""
    return {BASELINE: (dict(BASELINE_PARAMS),), LOGISTIC: LOGISTIC_GRID, HIST_GB: HIST_GB_GRID}[family]
