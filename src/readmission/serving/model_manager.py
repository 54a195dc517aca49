"""Loads ``models:/<MODEL_NAME>@<MODEL_ALIAS>``, keeps a local copy, polls and swaps atomically.

* Requests read ``manager.current`` once: a swap replaces one reference, so an
  in-flight request finishes on the model it started with.
* A failed load keeps the current model and is counted (``readmission_model_reloads_total{result="failure"}``).
* Models are read by ``model_loader`` (skops with the package's allow-list, never pickle):
  a refused version keeps the current model, is counted in
  ``readmission_model_refusals_total{reason=...}``, logged once, and not downloaded again
  by the poller (a forced reload checks it again).
* Each successful load from MLflow is copied under ``MODEL_CACHE_DIR``; a
  restarted API serves that copy while MLflow is unreachable, and swaps to the
  registry's champion as soon as it can reach it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from readmission import features
from readmission.config import Settings
from readmission.evaluation import Bands
from readmission.export import write_atomically
from readmission.logs import new_error_id
from readmission.model_loader import ModelFiles, ModelRefusedError, download, load_model_dir
from readmission.serving.fastpath import FastPredictor, synthetic_records
from readmission.serving.metrics import ServingMetrics

logger = logging.getLogger(__name__)

_MLFLOW_LOCK = threading.Lock()
"""MLflow's tracking/registry URIs are process-global: one MLflow conversation at a time."""

_MLFLOW_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
}
"""A serving process must notice an unreachable MLflow in seconds, not minutes, and never lets MLflow's
own loaders unpickle a model (env vars win)."""

DEFAULT_THRESHOLD = 0.5
MEDIUM_RISK_FRACTION = 0.75
"""Bands of a model logged without a band policy: high from its threshold, medium from 75 % of it."""


def legacy_bands(threshold: float) -> Bands:
    """The bands of a model logged before band policies existed, as ``evaluation.Bands`` (whose rule decides):
    high from the decision threshold, medium from 75 % of it, that bound included (``Bands`` includes
    ``high_from`` and excludes ``medium_from``: the float just below it)."""
    return Bands(
        base_rate=math.nan,
        medium_from=math.nextafter(MEDIUM_RISK_FRACTION * threshold, -math.inf),
        high_from=threshold,
        policy=f"legacy: high from the decision threshold, medium from {MEDIUM_RISK_FRACTION:.0%} of it",
    )


class ModelUnavailableError(RuntimeError):
    """No model could be loaded. The message is safe to show a client (an error id, a refusal reason);
    the details are in the log under that id."""


@dataclass(frozen=True)
class LoadedModel:
    """One model version ready to score, with what the API reports about it."""

    name: str
    version: str
    alias: str
    run_id: str | None
    threshold: float
    metadata: dict[str, Any]
    signature_inputs: list[dict[str, Any]] | None
    predictor: FastPredictor
    source: str
    """``mlflow`` or ``cache``."""
    target: str = "any"
    """The outcome the model predicts (``features.TARGETS``)."""
    bands: Bands | None = None
    """Risk bands relative to the base rate (None for a model trained before bands existed)."""
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @cached_property
    def loaded_at_iso(self) -> str:
        return self.loaded_at.isoformat()

    @cached_property
    def band_rule(self) -> Bands:
        """The bands every answer uses: the model's own, or ``legacy_bands`` of its threshold."""
        return self.bands if self.bands is not None else legacy_bands(self.threshold)

    @cached_property
    def explainer(self) -> Any:
        """The model's ``explain.Explainer`` (built on first use; None for a model without trees)."""
        from readmission.explain import Explainer, UnexplainableModelError

        try:
            return Explainer(self.predictor.pipeline)
        except (UnexplainableModelError, ValueError) as error:
            logger.info("%s v%s cannot be explained: %s", self.name, self.version, error)
            return None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "threshold": self.threshold,
            "target": self.target,
            "outcome": features.OUTCOME_DEFINITIONS.get(self.target, self.target),
            "base_rate": self.bands.base_rate if self.bands else None,
            "bands": self.bands.as_dict() if self.bands else None,
            "calibration": self.metadata.get("calibration"),
            "metrics": self.metadata.get("metrics", {}),
            "data_version": self.metadata.get("data_version"),
            "loaded_at": self.loaded_at_iso,
            "source": self.source,
            "fast_path": self.predictor.kind,
            "input_schema": self.signature_inputs,
        }


def _threshold(metadata: dict[str, Any], tags: dict[str, str]) -> float:
    for value in (metadata.get("threshold"), tags.get("threshold")):
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                logger.warning("ignoring a threshold that is not a number: %r", value)
    return DEFAULT_THRESHOLD


class ModelManager:
    """Owns the served model: initial load, background polling, forced reloads, the local cache."""

    def __init__(self, settings: Settings, metrics: ServingMetrics, *, verify_records: int = 200) -> None:
        for key, value in _MLFLOW_CLIENT_DEFAULTS.items():
            os.environ.setdefault(key, value)
        os.environ.update(settings.mlflow_environment())
        self.settings = settings
        self.metrics = metrics
        self.name = settings.model_name
        self.target = settings.readmission_target
        self.alias = settings.model_alias
        self.tracking_uri = settings.resolved_mlflow_tracking_uri
        self.cache_dir = settings.resolved_model_cache_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        self.verify_records = verify_records
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        """The last failure as a client may see it (an error id and, for a refusal, its reason)."""
        self.failures = 0
        self.refused: dict[tuple[str, str | None], str] = {}
        """(version, run id) -> why it was refused (the poller does not download those again)."""
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Serve the cached champion at once (if any), then poll MLflow in the background."""
        self._clean_leftovers()
        try:
            self.load_cached()
        except ModelRefusedError as error:
            self._count_refusal("cache", error)
        except Exception as error:
            logger.warning("could not load the cached model: %s", error)
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(ModelUnavailableError):  # already logged and counted
                self.refresh()
            self._stop.wait(self.settings.model_poll_seconds)

    # ----------------------------------------------------------------- loading

    def refresh(self, *, force: bool = False) -> tuple[str | None, str | None]:
        """Load the alias's version if it differs from the served one (always with ``force``).

        Returns (old version, new version). Raises ``ModelUnavailableError`` when it fails;
        the current model is kept.
        """
        with self._load_lock:
            old = self.current.version if self.current else None
            version: str | None = None
            run_id: str | None = None
            try:
                version, run_id, tags = self._resolve_alias()
                if not force and (version, run_id) in self.refused:
                    return old, old  # refused, counted and logged already: keep serving
                # the same version number from another run is another model (a registry rebuilt from scratch)
                same = self.current is not None and (version, run_id) == (old, self.current.run_id)
                if not force and same and self.current is not None and self.current.source == "mlflow":
                    return old, old
                if not force and same and self.current is not None:
                    self.current = self._replace_source(self.current, "mlflow")
                    return old, old
                loaded = self._load_version(version, run_id, tags)
            except ModelRefusedError as error:
                self.refused[(str(version), run_id)] = error.reason
                self._count_refusal(f"version {version}", error)
                raise ModelUnavailableError(self.last_error or "") from error
            except Exception as error:
                self.failures += 1
                error_id = new_error_id()
                self.last_error = f"error id {error_id}"
                self.metrics.reloads.labels(result="failure").inc()
                logger.warning("error %s: loading %s@%s failed (keeping %s): %s: %s", error_id, self.name, self.alias,
                               old, type(error).__name__, error)  # fmt: skip
                raise ModelUnavailableError(self.last_error) from error
            self._swap(loaded)
            self.metrics.reloads.labels(result="success").inc()
            return old, loaded.version

    def _count_refusal(self, what: str, error: ModelRefusedError) -> None:
        self.failures += 1
        error_id = new_error_id()
        self.last_error = f"{what} refused ({error.reason}), error id {error_id}"
        self.metrics.refusals.labels(reason=error.reason).inc()
        self.metrics.reloads.labels(result="refused").inc()
        served = self.current.version if self.current else None
        logger.error("error %s: REFUSED model %s %s (%s): %s; still serving version %s", error_id, self.name, what,
                     error.reason, error, served)  # fmt: skip

    def _replace_source(self, model: LoadedModel, source: str) -> LoadedModel:
        replaced = dataclasses.replace(model, source=source)
        self._swap(replaced, log=False)
        return replaced

    def _resolve_alias(self) -> tuple[str, str | None, dict[str, str]]:
        from mlflow import MlflowClient  # after __init__ put the client defaults in the environment

        with _MLFLOW_LOCK:
            client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
            mv = client.get_model_version_by_alias(self.name, self.alias)
        return str(mv.version), mv.run_id, dict(mv.tags or {})

    def _load_version(self, version: str, run_id: str | None, tags: dict[str, str]) -> LoadedModel:
        import mlflow  # after __init__ put the client defaults in the environment

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=self.cache_dir))
        try:
            with _MLFLOW_LOCK:
                mlflow.set_tracking_uri(self.tracking_uri)
                mlflow.set_registry_uri(self.tracking_uri)
                local = download(f"models:/{self.name}/{version}", staging)
            model = self._build(version, run_id, tags, load_model_dir(local), "mlflow")
            self._store_cache(local, version, run_id, tags)
            return model
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _build(
        self,
        version: str,
        run_id: str | None,
        tags: dict[str, str],
        files: ModelFiles,
        source: str,
    ) -> LoadedModel:
        predictor = FastPredictor(files.pipeline)
        if self.verify_records:
            predictor.verify(synthetic_records(self.verify_records))
        model = LoadedModel(
            name=self.name,
            version=version,
            alias=self.alias,
            run_id=run_id,
            threshold=_threshold(files.metadata, tags),
            metadata=files.metadata,
            signature_inputs=files.signature_inputs,
            predictor=predictor,
            source=source,
            target=str(files.metadata.get("target") or tags.get("target") or self.target),
            bands=Bands.from_dict(files.metadata["bands"]) if files.metadata.get("bands") else None,
        )
        _ = model.explainer  # built at load time, never on a request
        return model

    def _swap(self, model: LoadedModel, *, log: bool = True) -> None:
        self.current = model  # one reference assignment: atomic for readers
        self.last_error = None
        self.metrics.set_model(model.name, model.version, model.alias, model.source, model.loaded_at.timestamp())
        if log:
            logger.info(
                "serving %s version %s (%s, fast path %s)",
                model.name,
                model.version,
                model.source,
                model.predictor.kind,
            )

    # ----------------------------------------------------------------- the local cache

    def _store_cache(self, local: Path, version: str, run_id: str | None, tags: dict[str, str]) -> None:
        # Keyed by the run that logged the model: a registry rebuilt from scratch reuses version numbers.
        target = self.cache_dir / (f"run-{re.sub(r'[^A-Za-z0-9]', '_', run_id)}" if run_id else f"v{version}")
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".copy-{target.name}-", dir=self.cache_dir))
            shutil.copytree(local, tmp, dirs_exist_ok=True)
            os.replace(tmp, target)
        pointer = {"version": version, "run_id": run_id, "tags": tags, "path": target.name, "alias": self.alias}
        write_atomically(self.cache_dir / "current.json", json.dumps(pointer).encode())
        for old in [*self.cache_dir.glob("v*"), *self.cache_dir.glob("run-*")]:
            if old.name != target.name:
                shutil.rmtree(old, ignore_errors=True)

    def _clean_leftovers(self) -> None:
        """Remove what a crash mid-load left in the cache: download and copy folders, temporary pointers."""
        for leftover in self.cache_dir.glob(".*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def load_cached(self) -> bool:
        """Serve the last champion kept on disk; False when there is none."""
        pointer_path = self.cache_dir / "current.json"
        if not pointer_path.exists():
            return False
        pointer = json.loads(pointer_path.read_text())
        if pointer.get("alias", self.alias) != self.alias:
            return False
        files = load_model_dir(self.cache_dir / pointer["path"])
        model = self._build(str(pointer["version"]), pointer.get("run_id"), pointer.get("tags", {}), files, "cache")
        with self._load_lock:
            if self.current is None:
                self._swap(model)
                self.metrics.reloads.labels(result="cache").inc()
        return True

    def wait_until_loaded(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.current is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.current is not None

    def unavailable_reason(self) -> str:
        """Why no model is served, for a client: no URL, no exception text (the log has those)."""
        reason = f"No model is loaded yet: {self.name}@{self.alias} could not be loaded"
        if self.last_error:
            reason += f" ({self.last_error}; the API log has the details)"
        return reason + f"; loading is retried every {self.settings.model_poll_seconds:g} s."
