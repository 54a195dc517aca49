"""Candidate models, the time-boxed search, and the training entry points.

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
patient-hash order (``split.patient_order``), so the encoder's contiguous folds
never put one patient on both sides of a fold.

The histogram gradient-boosting family ends with a seed bag: its best
configuration refitted with other seeds (other early-stopping rows and feature
subsamples) and soft-voted, a ``VotingClassifier`` the serving layer compiles.

The candidates share one feature computation and one encoder fit per encoder
kind: the features are stateless and the encoders deterministic, so the
assembled pipeline equals one fitted end to end (a test checks it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from threadpoolctl import threadpool_limits

from readmission import features, schema, split
from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)

LABEL = "label"
NumericMode = Literal["passthrough", "scale"]

BASELINE = "baseline_gb"
LOGISTIC = "logistic"
HIST_GB = "hist_gb"
CANDIDATES: tuple[str, ...] = (BASELINE, LOGISTIC, HIST_GB)
"""Every candidate family; ``train_and_log`` fits all of them by default."""

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
"""Searched in this order until ``TRAIN_TIME_BUDGET_SECONDS`` is spent (the first always runs)."""
BAG_SEEDS = 3
"""Members of the seed bag of the best HistGradientBoosting configuration (1 disables it)."""
TARGET_ENCODER_FOLDS = 5
TARGET_ENCODED: tuple[str, ...] = (*features.CODE_FEATURES, "medical_specialty")


class NoTrainingDataError(RuntimeError):
    """A split needed for training is empty or has a single class."""


# --------------------------------------------------------------------------- pipelines


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
    return Pipeline(
        [
            ("features", features.RawRecordFeatures()),
            ("encode", make_encoder(top_specialties, numeric)),
            ("model", classifier),
        ]
    )


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


def _numeric_mode(family: str) -> NumericMode:
    return "scale" if family == LOGISTIC else "passthrough"


def _classifier(family: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
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
    members += [(f"seed_{seed + k}", _classifier(HIST_GB, params, seed + k)) for k in range(1, BAG_SEEDS)]
    return VotingClassifier(members, voting="soft")


def _grid(family: str) -> tuple[dict[str, Any], ...]:
    return {BASELINE: (dict(BASELINE_PARAMS),), LOGISTIC: LOGISTIC_GRID, HIST_GB: HIST_GB_GRID}[family]


# --------------------------------------------------------------------------- the sweep


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
    families: Sequence[str] = CANDIDATES,
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
        return _sweep(train, validation, families, top_specialties, seed, budget_seconds)


def _sweep(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    families: Sequence[str],
    top_specialties: int,
    seed: int,
    budget_seconds: float,
) -> SweepResult:
    started = time.perf_counter()
    train = patient_ordered(train)
    step = features.RawRecordFeatures()
    train_features = step.transform(train[list(schema.INPUT_COLUMNS)])
    val_features = step.transform(validation[list(schema.INPUT_COLUMNS)])
    y_train = train[LABEL].to_numpy()
    y_val = validation[LABEL].to_numpy()
    encoded: dict[NumericMode, tuple[ColumnTransformer, np.ndarray, np.ndarray]] = {}
    result = SweepResult([], 0.0)
    for family in families:
        mode = _numeric_mode(family)
        if mode not in encoded:
            encoder = make_encoder(top_specialties, mode)
            # fit_transform cross-fits the target encoding of the training rows (transform alone would leak)
            encoded[mode] = (encoder, encoder.fit_transform(train_features, y_train), encoder.transform(val_features))
        encoder, x_train, x_val = encoded[mode]
        slowest = 0.0
        fitted: list[Candidate] = []
        for index, params in enumerate(_grid(family)):
            # skip when the next fit would likely end past the budget (estimated by this family's slowest fit)
            if index > 0 and time.perf_counter() - started + slowest > budget_seconds:
                result.skipped.append(f"{family}{params}")
                continue
            fit_started = time.perf_counter()
            classifier = clone(_classifier(family, params, seed)).fit(x_train, y_train)
            seconds = time.perf_counter() - fit_started
            slowest = max(slowest, seconds)
            fitted.append(_evaluated(family, params, encoder, classifier, seconds, x_val, y_val))
            result.candidates.append(fitted[-1])
        if family == HIST_GB and BAG_SEEDS > 1:
            best = max(fitted, key=lambda c: c.val_roc_auc)
            params = {**best.params, "seeds": BAG_SEEDS}
            if time.perf_counter() - started + slowest * (BAG_SEEDS - 1) > budget_seconds:
                result.skipped.append(f"{family}{params}")
            else:
                fit_started = time.perf_counter()
                bag = seed_bag(best.pipeline.named_steps["model"], best.params, seed).fit(x_train, y_train)
                seconds = best.fit_seconds + time.perf_counter() - fit_started
                result.candidates.append(_evaluated(family, params, encoder, bag, seconds, x_val, y_val))
    result.seconds = time.perf_counter() - started
    if result.skipped:
        logger.info("time budget of %.0f s spent; skipped %d configurations", budget_seconds, len(result.skipped))
    return result


def _evaluated(
    family: str,
    params: dict[str, Any],
    encoder: ColumnTransformer,
    classifier: ClassifierMixin,
    seconds: float,
    x_val: np.ndarray,
    y_val: np.ndarray,
) -> Candidate:
    """A fitted classifier scored on validation and assembled into its raw-record pipeline."""
    auc = float(roc_auc_score(y_val, classifier.predict_proba(x_val)[:, 1]))
    pipeline = Pipeline([("features", features.RawRecordFeatures()), ("encode", encoder), ("model", classifier)])
    candidate = Candidate(family, dict(params), pipeline, auc, seconds)
    logger.info("candidate %s: val_roc_auc=%.4f in %.1f s", candidate.label, auc, seconds)
    return candidate


# --------------------------------------------------------------------------- data in


def load_splits(settings: Settings | None = None, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """The ``names`` splits (default all: ``train``/``validation``/``test``) from ``CLEAN_DATABASE_URL``."""
    from readmission import storage

    settings = settings or get_settings()
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    return {
        split: storage.read_table(engine, storage.clean_table(storage.SPLIT_TABLES[split]))
        for split in (names or storage.SPLIT_TABLES)
    }


def load_manifest(uri: str | None, settings: Settings | None = None) -> dict[str, Any] | None:
    """The export manifest at ``uri`` (a manifest or the dataset root: its latest); None when there is none."""
    from readmission import export

    if not uri:
        return None
    settings = settings or get_settings()
    try:
        return export.read_manifest(uri, s3_endpoint_url=settings.s3_endpoint_url)
    except Exception as error:  # a missing manifest only loses file lineage, never the training
        logger.warning("no export manifest at %s (%s): training without file lineage", uri, error)
        return None


def manifest_files(manifest: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{split: {"uri", "sha256", "rows", ...}}`` from a manifest (tolerates a list or a mapping of files)."""
    if not manifest:
        return {}
    entries = manifest.get("files") or manifest.get("splits") or {}
    if isinstance(entries, Mapping):
        items = [(str(name), dict(entry)) for name, entry in entries.items()]
    else:
        items = [(str(entry.get("split") or entry.get("name")), dict(entry)) for entry in entries]
    out = {}
    for name, entry in items:
        entry.setdefault("uri", entry.get("path") or entry.get("key") or entry.get("file"))
        out[name] = entry
    return out


def data_version(frames: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any] | None) -> str:
    """The manifest's ``data_version``, else a content hash of the frames."""
    if manifest and manifest.get("data_version"):
        return str(manifest["data_version"])
    digest = hashlib.sha256()
    for name in sorted(frames):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(frames[name], index=False).to_numpy().tobytes())
    return f"frames-{digest.hexdigest()[:16]}"


# --------------------------------------------------------------------------- train and log


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced (ids and figures only: safe to pass between DAG tasks)."""

    run_id: str
    model_uri: str
    version: str | None
    candidate: str
    threshold: float
    data_version: str
    metrics: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "version": self.version,
            "candidate": self.candidate,
            "threshold": self.threshold,
            "data_version": self.data_version,
            "val_roc_auc": self.metrics.get("val_roc_auc"),
            "test_roc_auc": self.metrics.get("test_roc_auc"),
        }


KEY_METRICS: tuple[str, ...] = (
    "val_roc_auc", "val_pr_auc", "val_brier", "val_f1",
    "test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_accuracy", "test_f1",
)  # fmt: skip


def train_and_log(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame | None = None,
    manifest: Mapping[str, Any] | str | None = None,
    *,
    settings: Settings | None = None,
    families: Sequence[str] | None = None,
    register: bool = True,
) -> TrainResult:
    """Fit the candidates, pick the best on validation ROC-AUC, log everything, register a ``challenger``."""
    from readmission import tracking

    settings = settings or get_settings()
    families = tuple(families or settings.candidate_families)
    unknown = set(families) - set(CANDIDATES)
    if unknown:
        raise ValueError(f"unknown candidate families {sorted(unknown)}; choose from {', '.join(CANDIDATES)}")
    if isinstance(manifest, str):
        manifest = load_manifest(manifest, settings)
    frames = {"train": train, "validation": validation, **({"test": test} if test is not None else {})}
    version_id = data_version(frames, manifest)
    target = str((manifest or {}).get("target") or settings.readmission_target)
    client = tracking.configure(settings)

    with threadpool_limits(limits=1):
        return _train_and_log(
            client, train, validation, test, manifest, frames, version_id, target, settings, families, register
        )


def _train_and_log(
    client: Any,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame | None,
    manifest: Mapping[str, Any] | None,
    frames: dict[str, pd.DataFrame],
    version_id: str,
    target: str,
    settings: Settings,
    families: Sequence[str],
    register: bool,
) -> TrainResult:
    import mlflow

    from readmission import evaluation, registry, tracking

    result = sweep(
        train,
        validation,
        families=families,
        top_specialties=settings.top_specialties,
        seed=settings.random_seed,
        budget_seconds=settings.train_time_budget_seconds,
    )
    best = result.best
    pipeline = best.pipeline
    y_val = validation[LABEL].to_numpy()
    val_proba = pipeline.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    threshold = evaluation.choose_threshold(y_val, val_proba)
    metrics = {f"val_{k}": v for k, v in evaluation.score(y_val, val_proba, threshold).items()}
    val_groups = evaluation.group_results(validation, y_val, val_proba, threshold)
    metrics.update(evaluation.group_metrics("val", val_groups))
    report_frame, y_report, report_proba, groups = validation, y_val, val_proba, val_groups
    if test is not None and not test.empty:
        y_test = test[LABEL].to_numpy()
        test_proba = pipeline.predict_proba(test[list(schema.INPUT_COLUMNS)])[:, 1]
        metrics.update({f"test_{k}": v for k, v in evaluation.score(y_test, test_proba, threshold).items()})
        groups = evaluation.group_results(test, y_test, test_proba, threshold)
        metrics.update(evaluation.group_metrics("test", groups))
        report_frame, y_report, report_proba = test, y_test, test_proba
    metrics = {k: v for k, v in metrics.items() if not math.isnan(v)}
    leaderboard = [
        {"candidate": c.label, "val_roc_auc": c.val_roc_auc, "fit_seconds": c.fit_seconds} for c in result.candidates
    ]
    importance = evaluation.feature_importance(pipeline, validation, y_val, seed=settings.random_seed)
    rows = {name: len(frame) for name, frame in frames.items()}
    prefix = "test" if report_frame is test else "val"

    with mlflow.start_run(run_name=f"train-{best.family}") as run:
        mlflow.set_tags({"data_version": version_id, "target": target, "candidate": best.family})
        mlflow.log_params(
            {
                "candidate": best.family,
                **{f"model_{k}": v for k, v in best.params.items()},
                "threshold": round(threshold, 6),
                "data_version": version_id,
                "target": target,
                "top_specialties": settings.top_specialties,
                "random_seed": settings.random_seed,
                "time_budget_seconds": settings.train_time_budget_seconds,
                "candidates_tried": len(result.candidates),
                "candidates_skipped": len(result.skipped),
                **{f"rows_{k}": v for k, v in rows.items()},
            }
        )
        mlflow.log_metrics({**metrics, "threshold": threshold, "sweep_seconds": result.seconds})
        _log_lineage(frames, manifest, version_id, target)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            evaluation.save_plots(folder / "plots", y_report, report_proba, threshold, importance, prefix=prefix)
            groups.to_csv(folder / "per_group.csv", index=False)
            evaluation.calibration_table(y_report, report_proba).to_csv(folder / "calibration.csv", index=False)
            importance.to_csv(folder / "permutation_importance.csv", index=False)
            (folder / "candidates.json").write_text(json.dumps(leaderboard, indent=2))
            if manifest:
                (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            (folder / "model_card.md").write_text(
                evaluation.model_card(
                    model_name=settings.model_name,
                    candidate=best.label,
                    target=target,
                    data_version=version_id,
                    rows=rows,
                    threshold=threshold,
                    metrics=metrics,
                    groups=groups,
                    leaderboard=leaderboard,
                    importance=importance,
                )
            )
            mlflow.log_artifacts(str(folder))
        key_metrics = {k: round(metrics[k], 6) for k in KEY_METRICS if k in metrics}
        info = tracking.log_model(
            pipeline,
            validation,
            {
                "threshold": threshold,
                "data_version": version_id,
                "target": target,
                "candidate": best.family,
                "metrics": key_metrics,
            },
        )
        run_id = run.info.run_id
    version = None
    if register:
        version = registry.register_run(client, settings.model_name, run_id, info.model_uri)
    logger.info(
        "run %s: %s val_roc_auc=%.4f test_roc_auc=%s, version %s",
        run_id,
        best.label,
        metrics["val_roc_auc"],
        f"{metrics['test_roc_auc']:.4f}" if "test_roc_auc" in metrics else "n/a",
        version,
    )
    return TrainResult(run_id, info.model_uri, version, best.family, threshold, version_id, metrics)


def _log_lineage(
    frames: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any] | None, version_id: str, target: str
) -> None:
    """``mlflow.data`` inputs: each split with its Parquet file as source and the file SHA-256 as digest."""
    files = manifest_files(manifest)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        _log_inputs(frames, files, version_id)


def _log_inputs(frames: Mapping[str, pd.DataFrame], files: dict[str, dict[str, Any]], version_id: str) -> None:
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    for name, frame in frames.items():
        entry = files.get(name) or files.get({"validation": "val"}.get(name, name)) or {}
        source = entry.get("uri") or f"clean_data_db/{name}"
        digest = str(entry.get("sha256") or version_id)[:36]
        dataset = from_pandas(
            frame.head(0), source=str(source), name=f"{name}@{version_id}", targets=LABEL, digest=digest
        )
        mlflow.log_input(dataset, context=name, tags={"rows": str(len(frame)), "data_version": version_id})


def train_from_database(
    settings: Settings | None = None, manifest_uri: str | None = None, *, promote: bool = True
) -> dict[str, Any]:
    """Read the split tables, train, register and (optionally) promote: the DAG's training task."""
    from readmission import registry

    settings = settings or get_settings()
    splits = load_splits(settings)
    manifest = manifest_uri or settings.resolved_dataset_uri
    result = train_and_log(splits["train"], splits["validation"], splits["test"], manifest, settings=settings)
    out = result.as_dict()
    if promote and result.version is not None:
        out["promotion"] = registry.promote_if_better(result.version, splits["validation"], settings=settings)
    return out
