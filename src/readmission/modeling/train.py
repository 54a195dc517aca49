"""One training run: search the candidates, evaluate the best, log it all as one MLflow run.

Registration and the MLflow set-up belong to the layers above
(``readmission.registry``, ``readmission.tracking``); ``readmission.pipeline``
composes them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from readmission import datasets, features, schema
from readmission.config import Settings, get_settings
from readmission.modeling import candidates, run_log, search
from readmission.modeling.report import evaluate

logger = logging.getLogger(__name__)


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
    candidates: tuple[dict[str, Any], ...] = ()
    """Every candidate the search tried: ``name``, ``family``, ``label``, ``selected`` and its validation
    ``metrics`` (``val_roc_auc``, ``val_pr_auc``, ``val_brier``, ``val_log_loss``; uncalibrated)."""

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


def train_and_log(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame | None = None,
    manifest_or_uri: Mapping[str, Any] | str | None = None,
    *,
    settings: Settings | None = None,
    families: Sequence[str] | None = None,
    target: schema.Target | None = None,
) -> TrainResult:
    """Fit the candidates, pick the best on validation ROC-AUC, calibrate it and log it as one run (not registered).

    ``target`` (default ``settings.readmission_target``) relabels every split from its ``readmitted``
    column, so one set of split tables trains both outcomes. The MLflow experiment must be set
    (``tracking.configure``).
    """
    settings = settings or get_settings()
    families = tuple(families or settings.candidate_families)
    candidates.check_families(families)
    manifest = (
        datasets.load_manifest(manifest_or_uri, settings) if isinstance(manifest_or_uri, str) else manifest_or_uri
    )
    target = target or settings.readmission_target
    train, validation = relabel(train, target), relabel(validation, target)
    test = relabel(test, target) if test is not None else None
    frames = {"train": train, "validation": validation, **({"test": test} if test is not None else {})}
    version_id = datasets.data_version(frames, manifest)
    with threadpool_limits(limits=1):
        result = search.sweep_with(train, validation, settings=settings, families=families)
        best = result.best
        base_rate = float(train[candidates.LABEL].mean())
        report = evaluate(
            best.pipeline, validation=validation, test=test, seed=settings.random_seed, target=target,
            base_rate=base_rate,
        )  # fmt: skip
        run_id, model_uri = run_log.log_run(
            sweep=result,
            report=report,
            frames=frames,
            manifest=manifest,
            data_version=version_id,
            target=target,
            model_name=settings.model_name,
            settings_params={
                "top_specialties": settings.top_specialties,
                "random_seed": settings.random_seed,
                "max_configurations": settings.train_max_configurations,
            },
        )
    metrics = report.metrics
    logger.info(
        "run %s: %s val_roc_auc=%.4f test_roc_auc=%s",
        run_id,
        best.label,
        metrics["val_roc_auc"],
        f"{metrics['test_roc_auc']:.4f}" if "test_roc_auc" in metrics else "n/a",
    )
    tried = tuple(
        {"name": c.name, "family": c.family, "label": c.label, "selected": c is best,
         "metrics": {f"val_{k}": v for k, v in c.val_metrics.items()}}
        for c in result.candidates
    )  # fmt: skip
    return TrainResult(run_id, model_uri, None, best.family, report.threshold, version_id, metrics, tried)


def relabel(frame: pd.DataFrame, target: schema.Target) -> pd.DataFrame:
    """``frame`` with ``label`` computed for ``target`` from ``readmitted`` (kept as it is without that column)."""
    if schema.TARGET_COLUMN not in frame:
        return frame
    return frame.assign(**{candidates.LABEL: features.label(frame[schema.TARGET_COLUMN], target).to_numpy()})
