"""The pipeline's figures, pushed to a Prometheus Pushgateway (``PUSHGATEWAY_URL``).

Every push adds its metric families to the group ``job="readmission-pipeline"``
(``pushadd``: families pushed by other tasks stay). A gateway that is down or slow is
logged and counted (``push_failures``; the next push that succeeds carries the count
as ``readmission_pipeline_push_failures_total``), never raised: monitoring must not
fail a pipeline task. Without ``PUSHGATEWAY_URL`` pushes are off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, pushadd_to_gateway

from readmission import schema
from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)

JOB = "readmission-pipeline"
OUTCOMES = ("success", "failure", "skipped")
CANDIDATE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")
"""The validation metrics pushed for every candidate."""
MODEL_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "f1")
"""The metrics pushed for each outcome's trained model (a bounded label set, no per-group results)."""
push_failures = 0
"""Pushes of this process that did not reach the gateway."""


class Push:
    """A set of metric families sent together: create them with ``gauge``/``counter``, then ``send``."""

    def __init__(self, settings: Settings | None = None, **grouping: str) -> None:
        self.settings = settings or get_settings()
        self.registry = CollectorRegistry()
        self.grouping = grouping
        """Extra grouping labels: a push replaces only the families of its own group."""

    def gauge(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def send(self) -> bool:
        """Push; False (logged, counted) when the gateway is off or cannot be reached."""
        global push_failures
        url = self.settings.pushgateway_url
        if not url:
            logger.debug("PUSHGATEWAY_URL is not set: metrics not pushed")
            return False
        self.counter(
            "readmission_pipeline_push_failures", "Pushes that did not reach the gateway (the pushing process)"
        ).inc(push_failures)
        try:
            pushadd_to_gateway(
                url, job=JOB, registry=self.registry, grouping_key=self.grouping,
                timeout=self.settings.push_timeout_seconds,
            )  # fmt: skip
        except Exception as error:  # a monitoring outage must never fail the pipeline
            push_failures += 1
            logger.warning("metrics not pushed to %s (%d failed pushes so far): %s", url, push_failures, error)
            return False
        return True


# --------------------------------------------------------------------------- what the pipeline pushes


@contextmanager
def observe_task(
    task: str, settings: Settings | None = None, skipped: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Time a pipeline task and push its duration and outcome (``skipped`` exceptions count as skipped)."""
    start = time.perf_counter()
    outcome = "failure"
    try:
        yield
        outcome = "success"
    except skipped:
        outcome = "skipped"
        raise
    finally:
        push = Push(settings, task=task)  # one group per task: its label comes from the grouping key
        push.gauge("readmission_pipeline_task_duration_seconds", "Duration of the task's last run").set(
            time.perf_counter() - start
        )
        state = push.gauge(
            "readmission_pipeline_task_outcome", "1 for the outcome of the task's last run", ("outcome",)
        )
        for name in OUTCOMES:
            state.labels(name).set(1 if name == outcome else 0)
        push.gauge(
            "readmission_pipeline_task_last_run_timestamp_seconds", "When the task last ran"
        ).set_to_current_time()
        push.send()


def push_ingestion(
    batch_rows: Mapping[str, int],
    totals: Mapping[str, int],
    quarantined_by_field: Mapping[str, int],
    last_batch: int | None,
    settings: Settings | None = None,
) -> bool:
    """Rows of this run's batches and the running totals by outcome (received, inserted, duplicate, quarantined)."""
    push = Push(settings)
    batch = push.gauge(
        "readmission_pipeline_batch_rows", "Rows of the batches of the last run, by outcome", ("outcome",)
    )
    for outcome, rows in batch_rows.items():
        batch.labels(outcome).set(rows)
    total = push.counter("readmission_pipeline_rows", "Rows ingested since the start, by outcome", ("outcome",))
    for outcome, rows in totals.items():
        total.labels(outcome).inc(rows)
    fields = push.counter("readmission_pipeline_quarantined_rows", "Quarantined rows by offending field", ("field",))
    for field in (*schema.COLUMN_NAMES, "other"):  # every field, 0 included: a bounded, complete label set
        fields.labels(field).inc(quarantined_by_field.get(field, 0))
    if last_batch is not None:
        push.gauge("readmission_pipeline_last_batch_number", "The last batch ingested").set(last_batch)
    return push.send()


def push_drift(batch_number: int, results: list[Any], max_psi: float, settings: Settings | None = None) -> bool:
    """PSI, unseen share and missing rate per feature of the last checked batch."""
    push = Push(settings)
    psi = push.gauge(
        "readmission_data_drift_psi", "PSI of the last batch against the champion's training data", ("feature",)
    )
    unseen = push.gauge(
        "readmission_data_unseen_ratio", "Share of the last batch's values never seen in training", ("feature",)
    )
    missing = push.gauge("readmission_data_missing_ratio", "Share of missing values in the last batch", ("feature",))
    for row in results:
        psi.labels(row.feature).set(row.psi)
        unseen.labels(row.feature).set(row.unseen_share)
        missing.labels(row.feature).set(row.missing_rate)
    push.gauge("readmission_data_drift_max_psi", "Largest PSI of the last checked batch").set(max_psi)
    push.gauge("readmission_data_drift_batch_number", "The last batch checked for drift").set(batch_number)
    threshold = push.gauge("readmission_data_drift_psi_threshold", "DRIFT_PSI_THRESHOLD")
    threshold.set(push.settings.drift_psi_threshold)
    return push.send()


def push_training(
    seconds: float,
    outcomes: Mapping[str, Sequence[Mapping[str, Any]]],
    models: Mapping[str, Mapping[str, float]] | None = None,
    settings: Settings | None = None,
) -> bool:
    """Training duration, every candidate's validation metrics and each outcome's trained model's metrics.

    ``outcomes`` maps an outcome to the candidates its search tried, each a mapping with ``name``
    (``hist_gb_2``, ``hist_gb_bag``...), ``family``, ``selected`` (the one trained on) and ``metrics``
    (``val_roc_auc``, ``val_pr_auc``, ``val_brier``, ``val_log_loss``: uncalibrated, on validation).
    ``models`` maps an outcome to its trained (calibrated) model's ``val_*``/``test_*`` metrics.
    """
    push = Push(settings)
    push.gauge("readmission_training_duration_seconds", "Duration of the last training").set(seconds)
    metric = push.gauge(
        "readmission_candidate_metric",
        "Validation metrics of every candidate of the last training (uncalibrated)",
        ("outcome", "candidate", "family", "split", "metric"),
    )
    selected = push.gauge(
        "readmission_candidate_selected",
        "1 for the candidate the last training chose for the outcome (best validation ROC-AUC)",
        ("outcome", "candidate", "family"),
    )
    for outcome, tried in outcomes.items():
        for candidate in tried:
            name, family = str(candidate["name"]), str(candidate["family"])
            selected.labels(outcome, name, family).set(int(bool(candidate.get("selected"))))
            for key, value in candidate.get("metrics", {}).items():
                split, _, what = key.partition("_")
                if split == "val" and what in CANDIDATE_METRICS and isinstance(value, (int, float)):
                    metric.labels(outcome, name, family, split, what).set(float(value))
    model = push.gauge(
        "readmission_training_metric",
        "Metrics of each outcome's model of the last training (calibrated)",
        ("outcome", "split", "metric"),
    )
    for outcome, metrics in (models or {}).items():
        for key, value in metrics.items():
            split, _, what = key.partition("_")
            if split in ("val", "test") and what in MODEL_METRICS and isinstance(value, (int, float)):
                model.labels(outcome, split, what).set(float(value))
    push.gauge("readmission_training_last_timestamp_seconds", "When a training last finished").set_to_current_time()
    return push.send()


def push_champion(version: str | int, metrics: Mapping[str, float], settings: Settings | None = None) -> bool:
    """The champion's version and its metrics (labelled by version: one series per version over time)."""
    push = Push(settings)
    push.gauge("readmission_champion_version", "The registered version that is champion").set(float(version))
    pushed = push.send()
    per_version = Push(settings, version=str(version))  # one group per version: every version stays listed
    by_version = per_version.gauge(
        "readmission_model_version_metric", "Metrics of a registered version", ("split", "metric")
    )
    for key, value in metrics.items():
        split, _, name = key.partition("_")
        if split in ("val", "test") and name in ("roc_auc", "pr_auc", "brier") and isinstance(value, (int, float)):
            by_version.labels(split, name).set(float(value))
    return per_version.send() and pushed


def push_run_finished(succeeded: bool, decision: str | None = None, settings: Settings | None = None) -> bool:
    """The end of a run: its time, the time of the last success and the staleness limit."""
    push = Push(settings)
    push.gauge("readmission_pipeline_last_run_timestamp_seconds", "When a run last finished").set_to_current_time()
    push.gauge("readmission_pipeline_last_run_success", "1 when the last run had no failed task").set(int(succeeded))
    if succeeded:
        push.gauge(
            "readmission_pipeline_last_success_timestamp_seconds", "When a run last succeeded"
        ).set_to_current_time()
    push.gauge("readmission_pipeline_stale_after_seconds", "PIPELINE_STALE_SECONDS").set(
        push.settings.pipeline_stale_seconds
    )
    if decision is not None:
        trained = push.gauge("readmission_pipeline_retrained", "1 when the last run decided to retrain")
        trained.set(int(decision == "train"))
    return push.send()
