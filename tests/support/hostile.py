"""A hostile "model" whose loading runs code: it creates a file when it is rebuilt.

Pickle and cloudpickle call ``open(path, "w")`` (``__reduce__``); skops calls
``__setstate__`` once the type is trusted (as a hostile ``MLmodel`` would list it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FileOnLoad:
    """Creates ``path`` when it is unpickled or loaded by skops."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Path(state["path"]).touch()
        self.path = state["path"]


def register_hostile(tracking_uri: str, name: str, path: Path, serialization_format: str) -> str:
    """Log ``FileOnLoad(path)`` as an sklearn model, register it and move ``champion`` to it, as an attacker can.

    A skops model lists its own class as trusted in its ``MLmodel``. MLflow loads the
    model once while saving it, so ``path`` is removed before returning.
    """
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("hostile-models")
    trusted = [f"{FileOnLoad.__module__}.{FileOnLoad.__qualname__}"] if serialization_format == "skops" else None
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            FileOnLoad(path),
            name="model",
            serialization_format=serialization_format,
            skops_trusted_types=trusted,
            pip_requirements=["scikit-learn"],
        )
    version = str(mlflow.register_model(info.model_uri, name).version)
    MlflowClient(tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, "champion", version)
    path.unlink(missing_ok=True)
    return version
