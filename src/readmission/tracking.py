"""MLflow set-up: tracking and registry URI, the experiment (telemetry is off: ``readmission/__init__``).

What a training run logs, and the format of the logged model, are in
``readmission.modeling.run_log``.
"""

from __future__ import annotations

import logging
import os

import mlflow
from mlflow import MlflowClient

from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)


def configure(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` (or the local sqlite store) and set the experiment."""
    settings = settings or get_settings()
    # requirements are explicit (pip_requirements): never depend on a uv project found in the cwd
    os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
    os.environ.update(settings.mlflow_environment())  # artifact endpoint, basic-auth user (MLflow reads both)
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
