"""Prometheus metrics of the inference API (``readmission_*``, base units, ``_total`` counters)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from readmission.drift import RISK_BUCKETS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000)
FLUSH_EVERY = 1000
"""Observations kept before they are moved into the metrics (a scrape moves them at once)."""


class ServingMetrics:
    """Every metric of one app, in its own registry (several apps can live in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "readmission_http_requests", "HTTP requests by endpoint, method and status",
            ["endpoint", "method", "status"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "readmission_http_request_duration_seconds", "Request duration by endpoint",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.predictions = Counter(
            "readmission_predictions", "Scored records by predicted outcome", ["outcome"], registry=r
        )
        self.risk = Histogram(
            "readmission_predicted_risk_ratio", "Predicted readmission probability", buckets=RISK_BUCKETS, registry=r
        )
        self.model_info = Gauge(
            "readmission_model_info", "The model being served (value 1)", ["name", "version", "alias", "source"],
            registry=r,
        )  # fmt: skip
        self._served: dict[str, tuple[str, str, str, str]] = {}
        self.model_loaded = Gauge("readmission_model_loaded", "1 when a model is loaded", registry=r)
        self.model_loaded_timestamp = Gauge(
            "readmission_model_loaded_timestamp_seconds", "When the current model was loaded (Unix time)", registry=r
        )
        self.reloads = Counter("readmission_model_reloads", "Model (re)load attempts by result", ["result"], registry=r)
        self.refusals = Counter(
            "readmission_model_refusals", "Models refused before loading, by reason (the served model is kept)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.batch_size = Histogram(
            "readmission_batch_records", "Records per batch request", buckets=BATCH_BUCKETS, registry=r
        )
        self.invalid_records = Counter(
            "readmission_invalid_records", "Records rejected by validation", ["endpoint"], registry=r
        )
        self.input_drift_psi = Gauge(
            "readmission_input_drift_psi", "PSI of the scored records (rolling window) against the training data",
            ["feature"], registry=r,
        )  # fmt: skip
        self.input_drift_window = Gauge(
            "readmission_input_drift_window_records", "Scored records in the live drift window", registry=r
        )
        self.training_risk = Gauge(
            "readmission_training_predicted_risk_ratio",
            "Share of the served model's validation predictions at or below each risk bound (le)",
            ["le"], registry=r,
        )  # fmt: skip
        ProcessCollector(namespace="readmission", registry=r)
        self._children: dict[tuple[str, ...], Any] = {}
        self._positive = self.predictions.labels(outcome="readmission")
        self._negative = self.predictions.labels(outcome="no_readmission")
        # The request path only appends here (one atomic deque.append, no lock); the observations reach the
        # prometheus-client metrics, by array, at the next scrape or every FLUSH_EVERY requests.
        self._pending_requests: deque[tuple[str, str, int, float]] = deque()
        self._pending_risks: deque[tuple[float, bool]] = deque()
        self._flush_lock = threading.Lock()

    def _child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self._pending_requests.append((endpoint, method, status, seconds))
        if len(self._pending_requests) >= FLUSH_EVERY:
            self.flush()

    def observe_prediction(self, risk: float, positive: bool) -> None:
        """One scored record (``positive``: ``risk`` reached the threshold)."""
        self._pending_risks.append((risk, positive))
        if len(self._pending_risks) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Move the pending observations into the metrics (counters and histograms updated once per label/bucket)."""
        with self._flush_lock:
            requests = _drain(self._pending_requests)
            scored = _drain(self._pending_risks)
        if scored:
            risks, positives = zip(*scored, strict=True)
            self.observe_predictions(np.asarray(risks, dtype=np.float64), sum(positives))
        if not requests:
            return
        counts: dict[tuple[str, str, str], int] = {}
        durations: dict[str, list[float]] = {}
        for endpoint, method, status, seconds in requests:
            key = (endpoint, method, str(status))
            counts[key] = counts.get(key, 0) + 1
            durations.setdefault(endpoint, []).append(seconds)
        for (endpoint, method, status), count in counts.items():
            self._child(self.requests, endpoint, method, status).inc(count)
        for endpoint, values in durations.items():
            _observe_many(self._child(self.duration, endpoint), np.asarray(values, dtype=np.float64))

    def observe_predictions(self, risks: np.ndarray, positives: int) -> None:
        """Many scored records at once: counters by outcome and the risk histogram, one update per bucket."""
        self._positive.inc(positives)
        self._negative.inc(len(risks) - positives)
        if not len(risks):
            return
        _observe_many(self.risk, risks)

    def set_model(self, name: str, version: str, alias: str, source: str, loaded_at: float) -> None:
        # One series per registered model: each outcome's manager replaces only its own model's series.
        previous = self._served.get(name)
        if previous is not None and previous != (name, version, alias, source):
            self.model_info.remove(*previous)
        self._served[name] = (name, version, alias, source)
        self.model_info.labels(name=name, version=version, alias=alias, source=source).set(1)
        self.model_loaded.set(1)
        self.model_loaded_timestamp.set(loaded_at)

    def set_training_risk(self, shares: Mapping[str, float] | None) -> None:
        """The training-time risk distribution of the served model (cumulative shares by bound)."""
        self.training_risk.clear()
        for bound, share in (shares or {}).items():
            self.training_risk.labels(le=bound).set(share)

    def exposition(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)


def _drain(pending: deque[Any]) -> list[Any]:
    """Every item appended so far (appends from other threads during the drain stay for the next one)."""
    return [pending.popleft() for _ in range(len(pending))]


def _observe_many(histogram: Any, values: np.ndarray) -> None:
    """``histogram.observe`` of every value, with one update per bucket (prometheus-client's own buckets)."""
    if not len(values):
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values.tolist():  # prometheus-client internals changed: the public API
            histogram.observe(value)
        return
    # Histogram.observe counts a value in the first bucket whose upper bound is >= it
    slots = np.searchsorted(np.asarray(bounds, dtype=np.float64), values, side="left")
    counts = np.bincount(slots, minlength=len(bounds))
    for bucket, amount in zip(buckets, counts.tolist(), strict=False):
        if amount:
            bucket.inc(amount)
    total.inc(float(np.sum(values)))


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request (cheap: no BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, endpoints: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in self.endpoints else "other"
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.observe_request(endpoint, scope["method"], status, time.perf_counter() - start)
