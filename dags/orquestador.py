"""The diabetes readmission pipeline as one Airflow 3 DAG (TaskFlow API).

The DAG only wires :mod:`readmission.pipeline`: every task calls one function
there and passes ids, URIs and counts through XCom, never data. Settings
(schedule, retries, URLs, databases) come from the environment.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from readmission.config import get_settings

log = logging.getLogger(__name__)
settings = get_settings()

DAG_ID = "mlops_diabetes_pipeline"
TASK_ORDER = (
    "check_source",
    "fetch_batch",
    "store_raw",
    "check_drift",
    "clean_transform",
    "store_clean",
    "create_splits",
    "export_splits",
    "train_models",
    "register_best",
    "promote",
    "signal_services",
    "finish_run",
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "mlops",
    # Every task talks to a network service (data API, MySQL, S3, MLflow, the API).
    "retries": settings.pipeline_retries,
    "retry_delay": timedelta(seconds=settings.pipeline_retry_delay_seconds),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}

DOC_MD = """
### Diabetes readmission: ingest, prepare, train, promote

`check_source` (EC2 instance running? data API healthy?) → `fetch_batch` (next batches not in
`ingestion_log`, staged under `STAGING_URI`) → `store_raw` (`diabetes_raw`, idempotent) →
`check_drift` (each new batch against the champion's training data: `drift` table, an MLflow
report; then the decision to retrain) → `clean_transform` → `store_clean` (`diabetes_clean`) →
`create_splits` (patient-grouped) →
`export_splits` (Parquet + manifest to `DATASET_URI`) → `train_models` (MLflow runs) →
`register_best` (new version, alias `challenger`) → `promote` (alias `champion` only if better) →
`signal_services` (`POST /reload-model` on the inference API) → `finish_run` (always: the run's
outcome to the Pushgateway; it fails the run when a task failed).

`train_models` and what follows run only when there is no champion yet, `RETRAIN_MIN_NEW_ROWS`
new rows arrived since it was trained, or a field's PSI reached `DRIFT_PSI_THRESHOLD`;
otherwise they are skipped with the reason in the log. Every task pushes its duration and
outcome to `PUSHGATEWAY_URL` (when set).

A stopped EC2 source or an exhausted source skips the run (the log says why);
trigger with `{"force_retrain": true}` to retrain on the stored data, and with
`{"batches": N}` to ingest up to N new batches in one run.
"""


def _schedule(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none", "null") else value


def _skip(reason: object) -> AirflowSkipException:
    log.warning("SKIPPING the run: %s", reason)
    return AirflowSkipException(str(reason))


def observed(func: Callable[..., Any]) -> Callable[..., Any]:
    """Push the task's duration and outcome (success, failure, skipped) to the Pushgateway."""

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        from readmission import pushmetrics

        with pushmetrics.observe_task(func.__name__, skipped=(AirflowSkipException,)):
            return func(*args, **kwargs)

    return run


def _pull(task_id: str) -> Any:
    return get_current_context()["ti"].xcom_pull(task_ids=task_id)


@dag(
    dag_id=DAG_ID,
    schedule=_schedule(settings.pipeline_schedule),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["mlops", "diabetes", "readmission"],
    params={
        "batches": Param(
            settings.pipeline_batches_per_run,
            type="integer",
            minimum=1,
            description="New batches ingested by this run, at most",
        ),
        "force_retrain": Param(False, type="boolean", description="Retrain even when no new batch arrived"),
    },
)
def mlops_diabetes_pipeline() -> None:
    @task
    @observed
    def check_source() -> dict[str, Any]:
        from readmission import pipeline

        try:
            return pipeline.check_source()
        except pipeline.NothingToDo as reason:
            raise _skip(reason) from None

    @task
    @observed
    def fetch_batch(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        from readmission import pipeline

        params = params or {}
        try:
            return pipeline.fetch_batch(
                int(params["batches"]), force_retrain=bool(params["force_retrain"]), run_id=run_id
            )
        except pipeline.NothingToDo as reason:
            raise _skip(reason) from None

    @task
    @observed
    def store_raw(fetched: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.store_raw(fetched["staged"])

    @task
    @observed
    def check_drift(stored: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.check_drift(stored["staged"], bool((params or {}).get("force_retrain")))

    @task
    @observed
    def clean_transform(checked: Any, run_id: str | None = None) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.clean_transform(run_id=run_id)

    @task
    @observed
    def store_clean(cleaned: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.store_clean(cleaned["uri"])

    @task
    @observed
    def create_splits(stored: Any) -> dict[str, int]:
        from readmission import pipeline

        return pipeline.create_splits()

    @task
    @observed
    def export_splits(splits: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.export_splits()

    @task
    @observed
    def train_models(exported: Any) -> dict[str, Any]:
        from readmission import pipeline

        decision = _pull("check_drift")
        if not decision["train"]:
            raise _skip(f"not retraining: {decision['reason']}")
        return pipeline.train_models(exported["manifest_uri"])

    @task
    @observed
    def register_best(trained: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.register_all(trained)

    @task
    @observed
    def promote(registered: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.promote_all(registered)

    @task
    @observed
    def signal_services(promoted: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.signal_services(bool(promoted["promoted"]))

    @task(trigger_rule="all_done")
    def finish_run(signalled: Any = None, dag_run: Any = None) -> dict[str, Any]:
        """Push the run's outcome and the champion's figures; fail the run when a task failed."""
        from readmission import pipeline

        states = get_current_context()["ti"].get_task_states(dag_id=DAG_ID, run_ids=[dag_run.run_id])
        failed = sorted(
            t for t, state in states.get(dag_run.run_id, {}).items() if state in ("failed", "upstream_failed")
        )
        pipeline.finish_run(not failed, _pull("check_drift"))
        if failed:
            raise AirflowFailException(f"tasks failed: {', '.join(failed)}")
        return {"failed": failed}

    source = check_source()
    fetched = fetch_batch()
    source >> fetched  # ordering only: fetch_batch re-reads the source itself
    stored = store_raw(fetched)
    cleaned = clean_transform(check_drift(stored))  # the decision is known before the data is rebuilt
    splits = create_splits(store_clean(cleaned))
    trained = train_models(export_splits(splits))  # reads check_drift's decision itself
    finish_run(signal_services(promote(register_best(trained))))


mlops_diabetes_pipeline()
