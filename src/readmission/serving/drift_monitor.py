"""Live input drift: a bounded window of scored records, compared with the champion's training data.

The request path only appends to a ``deque`` (``observe_record`` / ``observe_frame``); a
daemon thread, every ``API_DRIFT_INTERVAL_SECONDS``, loads the served version's training
reference (``drift/reference.json`` of its run, kept beside the model cache), compares the
window with it and sets ``readmission_input_drift_psi{feature}`` (one series per raw field:
a bounded label set) and ``readmission_input_drift_window_records``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from readmission import drift
from readmission.config import Settings
from readmission.serving.metrics import ServingMetrics

logger = logging.getLogger(__name__)


class DriftMonitor:
    """Holds the last ``window`` scored records; computes drift off the request path."""

    def __init__(
        self,
        settings: Settings,
        metrics: ServingMetrics,
        served: Callable[[], tuple[str, str | None] | None],
        cache_dir: Path,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.served = served
        """``(version, run_id)`` of the model being served, or None."""
        self.cache_dir = cache_dir
        self.window = settings.api_drift_window
        self._records: deque[Mapping[str, Any]] = deque(maxlen=self.window)
        self._frames: deque[pd.DataFrame] = deque()
        self._frame_rows = 0
        self._lock = threading.Lock()
        self._reference: tuple[str, dict[str, Any]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ the request path (cheap)

    def observe_record(self, record: Mapping[str, Any]) -> None:
        if self.window:
            self._records.append(record)

    def observe_frame(self, frame: pd.DataFrame) -> None:
        """A scored batch: its last ``window`` rows join the window (older batches drop out)."""
        if not self.window:
            return
        tail = frame.tail(self.window)
        with self._lock:
            self._frames.append(tail)
            self._frame_rows += len(tail)
            while self._frames and self._frame_rows - len(self._frames[0]) >= self.window:
                self._frame_rows -= len(self._frames.popleft())

    # ------------------------------------------------------------------ the background thread

    def start(self) -> None:
        if not self.window:
            logger.info("live drift is off (API_DRIFT_WINDOW=0)")
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="drift-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.settings.api_drift_interval_seconds):
            try:
                self.update()
            except Exception as error:  # monitoring must never take the API down
                logger.warning("live drift not updated: %s", error)

    def snapshot(self) -> pd.DataFrame:
        """The window as one frame (newest rows last, at most ``window`` rows)."""
        records = list(self._records)
        with self._lock:
            frames = list(self._frames)
        parts = [*frames, pd.DataFrame.from_records(records)] if records else frames
        if not parts:
            return pd.DataFrame()
        return pd.concat(parts, ignore_index=True).tail(self.window)

    def update(self) -> list[drift.FeatureDrift] | None:
        """Compare the window with the served version's reference and set the gauges."""
        reference = self.reference()
        window = self.snapshot()
        self.metrics.input_drift_window.set(len(window))
        if reference is None or window.empty:
            return None
        results = drift.compare(window, reference)
        for row in results:
            self.metrics.input_drift_psi.labels(feature=row.feature).set(row.psi)
        return results

    # ------------------------------------------------------------------ the reference

    def reference(self) -> dict[str, Any] | None:
        """The served version's training reference (cached per version), or None when unavailable."""
        served = self.served()
        if served is None:
            return None
        version, run_id = served
        if self._reference is not None and self._reference[0] == version:
            return self._reference[1]
        path = self.cache_dir / f"drift-reference-v{version}.json"
        if not path.exists() and run_id:
            self._download(run_id, path)
        if not path.exists():
            return None
        reference: dict[str, Any] = json.loads(path.read_text())
        self._reference = (version, reference)
        self.metrics.set_training_risk(reference.get("risk_shares"))
        logger.info("live drift compares with the training data of version %s", version)
        return reference

    def _download(self, run_id: str, path: Path) -> None:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        tracking_uri = self.settings.resolved_mlflow_tracking_uri
        try:
            with tempfile.TemporaryDirectory() as scratch:
                local = MlflowClient(tracking_uri).download_artifacts(run_id, drift.REFERENCE_ARTIFACT, scratch)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(Path(local).read_text())
        except (MlflowException, OSError) as error:
            logger.info("no drift reference for run %s yet: %s", run_id, error)
