"""Run logging: everything a training run writes to MLflow, and the format of the logged model.

The active MLflow experiment is set by the caller (``readmission.tracking.configure``).
The logged model is an sklearn ``Pipeline`` (skops format) whose input is the
raw record; ``pyfunc`` returns ``predict_proba`` (two columns, the second is
the readmission probability). Threshold, data version, target and metrics are
in the model metadata (``MLmodel``) and, once registered, in the version's tags.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from readmission import datasets, evaluation, features, schema
from readmission.modeling.candidates import LABEL
from readmission.trusted_types import SKOPS_TRUSTED_TYPES

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo
    from sklearn.pipeline import Pipeline

    from readmission.modeling.report import Report
    from readmission.modeling.search import Candidate, SweepResult

CALIBRATION_METRICS = ("ece", "calibration_slope", "calibration_intercept")
PIP_PACKAGES: tuple[str, ...] = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")
MODEL_ARTIFACT_NAME = "model"


# --------------------------------------------------------------------------- the logged model


def pip_requirements() -> list[str]:
    """Exact pins of what unpickling the model needs (plus the ``readmission`` package itself, installed)."""
    return [f"{name}=={importlib_metadata.version(name)}" for name in PIP_PACKAGES]


def model_signature() -> ModelSignature:
    """The raw record (``schema.INPUT_COLUMNS``; nullable columns optional) -> two class probabilities."""
    inputs = Schema(
        [
            ColSpec("long" if column.is_integer else "string", column.name, required=not column.nullable)
            for column in schema.COLUMNS
            if column.name in schema.INPUT_COLUMNS
        ]
    )
    outputs = Schema([TensorSpec(np.dtype("float64"), (-1, 2))])
    return ModelSignature(inputs=inputs, outputs=outputs)


def raw_input_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``schema.INPUT_COLUMNS`` of ``frame`` as the API receives them: int64 ids/codes/counts, None for missing."""
    out = frame[list(schema.INPUT_COLUMNS)].copy()
    for column in schema.COLUMNS:
        if column.name not in out:
            continue
        if column.is_integer:
            out[column.name] = out[column.name].astype(np.int64)
        else:
            out[column.name] = out[column.name].astype(object).where(out[column.name].notna(), None)
    return out


def log_model(pipeline: Pipeline, example: pd.DataFrame, metadata: dict[str, Any]) -> ModelInfo:
    """Log ``pipeline`` in the active run (skops, explicit requirements, raw-record signature).

    The metadata always carries ``feature_version`` (``features.FEATURE_VERSION``): the API
    serves a model only while the running feature code has that version.
    """
    # the input example has int64 columns by design (the schema says integers are never missing)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        return mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT_NAME,
            signature=model_signature(),
            input_example=raw_input_frame(example.head(2)),
            pip_requirements=pip_requirements(),
            pyfunc_predict_fn="predict_proba",
            metadata={**metadata, "feature_version": features.FEATURE_VERSION},
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
        )


# --------------------------------------------------------------------------- the run


def log_run(
    *,
    sweep: SweepResult,
    report: Report,
    frames: Mapping[str, pd.DataFrame],
    manifest: Mapping[str, Any] | None,
    data_version: str,
    target: str,
    model_name: str,
    settings_params: Mapping[str, Any],
) -> tuple[str, str]:
    """One MLflow run for the best candidate: tags, params, metrics, lineage, artifacts, the model.

    Returns ``(run_id, model_uri)``.
    """
    best = sweep.best
    rows = {name: len(frame) for name, frame in frames.items()}
    with mlflow.start_run(run_name=f"train-{best.family}") as run:
        mlflow.set_tags(
            {
                "data_version": data_version,
                "target": target,
                "candidate": best.family,
                "feature_version": features.FEATURE_VERSION,
            }
        )
        mlflow.log_params(
            {
                "candidate": best.family,
                **{f"model_{k}": v for k, v in best.params.items()},
                "threshold": round(report.threshold, 6),
                "data_version": data_version,
                "target": target,
                **settings_params,
                "candidates_tried": len(sweep.candidates),
                "candidates_skipped": len(sweep.skipped),
                **{f"rows_{k}": v for k, v in rows.items()},
            }
        )
        mlflow.log_metrics({**report.metrics, "threshold": report.threshold, "sweep_seconds": sweep.seconds})
        log_lineage(frames, manifest, data_version)
        log_artifacts(
            best=best,
            leaderboard=leaderboard(sweep),
            report=report,
            manifest=manifest,
            card=evaluation.model_card(
                model_name=model_name,
                candidate=best.label,
                target=target,
                data_version=data_version,
                rows=rows,
                threshold=report.threshold,
                metrics=report.metrics,
                groups=report.groups,
                leaderboard=leaderboard(sweep),
                importance=report.importance,
                calibration=report.calibration,
                bands=report.bands,
                band_tables=report.band_tables,
                intervals=report.intervals,
            ),
        )
        key_metrics = {k: round(report.metrics[k], 6) for k in evaluation.KEY_METRICS if k in report.metrics}
        metadata = {
            "threshold": report.threshold,
            "data_version": data_version,
            "target": target,
            "candidate": best.family,
            "metrics": key_metrics,
            "calibration": report.calibration,
            **({"bands": report.bands.as_dict()} if report.bands else {}),
            **quality_metadata(report),
        }
        info = log_model(report.pipeline or best.pipeline, frames["validation"], metadata)
        return run.info.run_id, info.model_uri


def _finite(value: Any) -> float | None:
    """``value`` rounded to 6 decimals, None when it is not a finite number (NaN has no JSON form)."""
    number = float(value)
    return round(number, 6) if math.isfinite(number) else None


def quality_metadata(report: Report) -> dict[str, Any]:
    """What the model page and ``/model-info`` show about the model's quality, carried in the model's metadata.

    * ``intervals``: the report split (``test`` when there is one) and, per metric (ROC-AUC, PR-AUC,
      Brier), the estimate and its patient-clustered bootstrap 95 % interval;
    * ``calibration_metrics``: per split, ECE, calibration slope and intercept;
    * ``band_rates``: per split and band, the share of patients, the observed rate and that rate as
      a multiple of the base rate.
    """
    intervals = {
        name: {"estimate": _finite(i.estimate), "low": _finite(i.low), "high": _finite(i.high)}
        for name, i in report.intervals.items()
    }
    calibration = {
        split: {name: _finite(report.metrics[f"{split}_{name}"])
                for name in CALIBRATION_METRICS if f"{split}_{name}" in report.metrics}
        for split in ("val", "test")
    }  # fmt: skip
    bands = {
        split: [{"band": str(row["band"]), **{k: _finite(row[k]) for k in ("share", "observed_rate", "rate_vs_base")}}
                for row in table.to_dict("records")]
        for split, table in report.band_tables.items()
    }  # fmt: skip
    return {
        "intervals": {"split": report.prefix, "level": 0.95, "metrics": intervals} if intervals else None,
        "calibration_metrics": {split: values for split, values in calibration.items() if values} or None,
        "band_rates": bands or None,
    }


def leaderboard(sweep: SweepResult) -> list[dict[str, Any]]:
    """Every candidate tried, with its validation metrics (uncalibrated) and fit time."""
    return [
        {"candidate": c.label, "name": c.name, **{f"val_{k}": v for k, v in c.val_metrics.items()},
         "val_roc_auc": c.val_roc_auc, "fit_seconds": c.fit_seconds}
        for c in sweep.candidates
    ]  # fmt: skip


def log_artifacts(
    *,
    best: Candidate,
    leaderboard: list[dict[str, Any]],
    report: Report,
    manifest: Mapping[str, Any] | None,
    card: str,
) -> None:
    """Plots, per-group and calibration tables, importance, the leaderboard, the manifest and the model card."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        evaluation.save_plots(
            folder / "plots", report.y, report.proba, report.threshold, report.importance, prefix=report.prefix
        )
        report.groups.to_csv(folder / "per_group.csv", index=False)
        evaluation.calibration_table(report.y, report.proba).to_csv(folder / "calibration.csv", index=False)
        if report.uncalibrated is not None:
            evaluation.save_reliability_plot(
                folder / "plots", report.y, report.uncalibrated, report.proba, report.prefix
            )
        for split, table in report.band_tables.items():
            table.to_csv(folder / f"bands_{split}.csv", index=False)
        intervals = {name: vars(interval) for name, interval in report.intervals.items()}
        (folder / "bootstrap_intervals.json").write_text(json.dumps(intervals, indent=2))
        report.importance.to_csv(folder / "permutation_importance.csv", index=False)
        (folder / "candidates.json").write_text(json.dumps(leaderboard, indent=2))
        if manifest:
            (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        (folder / "model_card.md").write_text(card)
        mlflow.log_artifacts(str(folder))


def log_lineage(frames: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any] | None, data_version: str) -> None:
    """``mlflow.data`` inputs: each split with its Parquet file as source and the file SHA-256 as digest."""
    files = datasets.manifest_files(manifest)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        for name, frame in frames.items():
            entry = files.get(name) or files.get({"validation": "val"}.get(name, name)) or {}
            source = entry.get("uri") or f"clean_data_db/{name}"
            digest = str(entry.get("sha256") or data_version)[:36]
            dataset = from_pandas(
                frame.head(0), source=str(source), name=f"{name}@{data_version}", targets=LABEL, digest=digest
            )
            mlflow.log_input(dataset, context=name, tags={"rows": str(len(frame)), "data_version": data_version})
