"""MLflow set-up, the raw-record signature, and how a model is logged.

The logged model is an sklearn ``Pipeline`` (skops format) whose input is the
raw record; ``pyfunc`` returns ``predict_proba`` (two columns, the second is
the readmission probability). Threshold, data version, target and metrics are
in the model metadata (``MLmodel``) and in the registered version's tags.
"""

from __future__ import annotations

import logging
import os
import warnings
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from readmission import schema
from readmission.config import Settings, get_settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.models.model import ModelInfo
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

SKOPS_TRUSTED_TYPES: list[str] = [
    "readmission.features.RawRecordFeatures",
    "readmission.calibration.CalibratedClassifier",
    "readmission.calibration.RiskMap",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.ensemble._gb.VerboseReporter",
    "sklearn.dummy.DummyClassifier",
    "sklearn.model_selection._split.KFold",
    "sklearn.utils._bunch.Bunch",
    "collections.OrderedDict",
]
"""Types skops must trust to save/load our pipelines (custom step, tree internals, the target
encoder's folds, the seed bag's member bunch)."""

PIP_PACKAGES: tuple[str, ...] = ("mlflow", "scikit-learn", "skops", "pandas", "numpy", "scipy")
MODEL_ARTIFACT_NAME = "model"


def pip_requirements() -> list[str]:
    """Exact pins of what unpickling the model needs (plus the ``readmission`` package itself, installed)."""
    return [f"{name}=={importlib_metadata.version(name)}" for name in PIP_PACKAGES]


def configure(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` (or the local sqlite store), telemetry off, experiment set."""
    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # requirements are explicit (pip_requirements): never depend on a uv project found in the cwd
    os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
    os.environ.update(settings.mlflow_environment())  # artifact endpoint, basic-auth user (MLflow reads both)
    import mlflow
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment_name)
    if experiment is None:
        artifact_location = None
        if not uri.startswith(("http://", "https://", "databricks")):
            # a local store would otherwise put artifacts under ./mlruns of the current directory
            artifact_location = settings.local_path("mlflow", "artifacts", "x").parent.as_uri()
        client.create_experiment(settings.mlflow_experiment_name, artifact_location=artifact_location)
    mlflow.set_experiment(settings.mlflow_experiment_name)
    return client


def model_signature() -> ModelSignature:
    """The raw record (``schema.INPUT_COLUMNS``; nullable columns optional) -> two class probabilities."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

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
    """Log ``pipeline`` in the active run (skops, explicit requirements, raw-record signature)."""

    # the input example has int64 columns by design (the schema says integers are never missing)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        return _log_sklearn(pipeline, example, metadata)


def _log_sklearn(pipeline: Pipeline, example: pd.DataFrame, metadata: dict[str, Any]) -> ModelInfo:
    import mlflow.sklearn

    return mlflow.sklearn.log_model(
        pipeline,
        name=MODEL_ARTIFACT_NAME,
        signature=model_signature(),
        input_example=raw_input_frame(example.head(2)),
        pip_requirements=pip_requirements(),
        pyfunc_predict_fn="predict_proba",
        metadata=metadata,
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
