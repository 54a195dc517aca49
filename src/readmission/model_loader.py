"""Loads a logged model without running its sender's code: skops only, with the package's allow-list.

A registered model is data from whoever can reach MLflow. ``mlflow.sklearn.load_model``
would unpickle a pickle/cloudpickle model, trust the types the model's own ``MLmodel``
lists for skops, and put the model's ``code/`` folder on ``sys.path``: each runs the
sender's code. Here only the sklearn flavor in the skops format is read, the file's
types are checked against ``trusted_types.SKOPS_TRUSTED_TYPES`` (held in this package, never
the list in the model) before anything is built, and everything else is refused.

A refusal is a ``ModelRefusedError`` whose ``reason`` is a short label for metrics and
logs (``readmission_model_refusals_total{reason=...}``); other checks of a model before
it is used (a feature version, ...) raise the same error with their own reason.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.artifacts
import skops.io
from mlflow.models import Model

from readmission import features
from readmission.trusted_types import SKOPS_TRUSTED_TYPES

logger = logging.getLogger(__name__)

SKOPS_FORMAT = "skops"


class ModelRefusedError(RuntimeError):
    """A model the package will not load; ``reason`` labels it (``unsafe_format``, ``untrusted_types``...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ModelFiles:
    """What a downloaded MLflow model holds: the sklearn object, its metadata, its signature inputs."""

    pipeline: Any
    metadata: dict[str, Any]
    signature_inputs: list[dict[str, Any]] | None


def _skops_file(path: Path, flavors: dict[str, Any]) -> Path:
    """The model's skops file, or a refusal when the model is not an sklearn model saved with skops."""
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        raise ModelRefusedError(
            "unsafe_format", f"the model has no sklearn flavor (flavors: {', '.join(sorted(flavors)) or 'none'})"
        )
    serialization = sklearn.get("serialization_format", "pickle")
    if serialization != SKOPS_FORMAT:
        raise ModelRefusedError(
            "unsafe_format", f"the model is serialized as {serialization!r}; only {SKOPS_FORMAT!r} is loaded"
        )
    root = path.resolve()
    file = (root / str(sklearn.get("pickled_model", ""))).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise ModelRefusedError("unsafe_format", f"the model's skops file {sklearn.get('pickled_model')!r} is missing")
    return file


FEATURE_VERSION_REASON = "feature_version"


def check_feature_version(metadata: dict[str, Any]) -> None:
    """Refuse a model trained with other feature code than the running one (``features.FEATURE_VERSION``):
    it calls ``readmission.features`` by import path, so it would score differently than it was evaluated."""
    recorded = metadata.get("feature_version")
    if recorded != features.FEATURE_VERSION:
        raise ModelRefusedError(
            FEATURE_VERSION_REASON,
            f"the model was trained with feature code version {recorded or '(none recorded)'} and this code is "
            f"version {features.FEATURE_VERSION}: train a model with this code",
        )


def load_model_dir(path: Path) -> ModelFiles:
    """Load a downloaded MLflow model directory, refusing anything but skops with trusted types,
    trained with the running feature code."""
    mlmodel = Model.load(str(path / "MLmodel"))  # YAML (safe_load): builds no object
    file = _skops_file(path, dict(mlmodel.flavors or {}))
    untrusted = sorted(set(skops.io.get_untrusted_types(file=file)) - set(SKOPS_TRUSTED_TYPES))
    if untrusted:
        raise ModelRefusedError(
            "untrusted_types", f"the model holds types this package does not trust: {', '.join(untrusted)}"
        )
    check_feature_version(dict(mlmodel.metadata or {}))
    pipeline = skops.io.load(file, trusted=SKOPS_TRUSTED_TYPES)
    signature = mlmodel.signature.inputs.to_dict() if mlmodel.signature is not None else None
    return ModelFiles(pipeline, dict(mlmodel.metadata or {}), signature)


def model_uri(name: str, ref: str) -> str:
    """``models:/<name>/<version>`` for a number, ``models:/<name>@<alias>`` otherwise."""
    return f"models:/{name}/{ref}" if ref.isdigit() else f"models:/{name}@{ref}"


def download(uri: str, destination: Path) -> Path:
    """Download the model at ``uri`` (``models:/...``) under ``destination``; returns its directory."""
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))


def load_registered(name: str, ref: str) -> ModelFiles:
    """Download ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` and load it safely."""
    staging = Path(tempfile.mkdtemp(prefix="readmission-model-"))
    try:
        return load_model_dir(download(model_uri(name, ref), staging))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
