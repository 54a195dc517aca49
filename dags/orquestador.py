"""The diabetes readmission pipeline as one Airflow 3 DAG (TaskFlow API).

The DAG only wires :mod:`readmission.pipeline`: every task calls one function
there and passes ids, URIs and counts through XCom, never data. Settings
(schedule, retries, URLs, databases) come from the environment.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from readmission.config import get_settings

log = logging.getLogger(__name__)
settings = get_settings()

DAG_ID = "mlops_diabetes_pipeline"
TASK_ORDER = (
    "check_source",
    "fetch_batch",
    "store_raw",
    "clean_transform",
    "store_clean",
    "create_splits",
    "export_splits",
    "train_models",
    "register_best",
    "promote",
    "signal_services",
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
`clean_transform` → `store_clean` (`diabetes_clean`) → `create_splits` (patient-grouped) →
`export_splits` (Parquet + manifest to `DATASET_URI`) → `train_models` (MLflow runs) →
`register_best` (new version, alias `challenger`) → `promote` (alias `champion` only if better) →
`signal_services` (`POST /reload-model` on the inference API).

A stopped EC2 source or an exhausted source skips the run (the log says why);
trigger with `{"force_retrain": true}` to retrain on the stored data, and with
`{"batches": N}` to ingest up to N new batches in one run.
"""


def _schedule(value: str) -> str | None:
    return None if value.strip().lower() in ("", "none", "null") else value


def _skip(reason: object) -> AirflowSkipException:
    log.warning("SKIPPING the run: %s", reason)
    return AirflowSkipException(str(reason))


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
    def check_source() -> dict[str, Any]:
        from readmission import pipeline

        try:
            return pipeline.check_source()
        except pipeline.NothingToDo as reason:
            raise _skip(reason) from None

    @task
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
    def store_raw(fetched: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.store_raw(fetched["staged"])

    @task
    def clean_transform(stored: Any, run_id: str | None = None) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.clean_transform(run_id=run_id)

    @task
    def store_clean(cleaned: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.store_clean(cleaned["uri"])

    @task
    def create_splits(stored: Any) -> dict[str, int]:
        from readmission import pipeline

        return pipeline.create_splits()

    @task
    def export_splits(splits: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.export_splits()

    @task
    def train_models(exported: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.train_models(exported["manifest_uri"])

    @task
    def register_best(trained: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.register_best(trained["run_id"], trained["model_uri"])

    @task
    def promote(registered: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.promote(registered["version"])

    @task
    def signal_services(promoted: Any) -> dict[str, Any]:
        from readmission import pipeline

        return pipeline.signal_services(bool(promoted["promoted"]))

    source = check_source()
    fetched = fetch_batch()
    source >> fetched  # ordering only: fetch_batch re-reads the source itself
    stored = store_raw(fetched)
    splits = create_splits(store_clean(clean_transform(stored)))
    signal_services(promote(register_best(train_models(export_splits(splits)))))


mlops_diabetes_pipeline()
