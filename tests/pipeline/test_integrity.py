"""The DAG folder parses, and the pipeline DAG has exactly the agreed shape."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from tests.support.airflow import DAGS_FOLDER

pytestmark = pytest.mark.dags

DAG_ID = "mlops_diabetes_pipeline"
CHAIN = (
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


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags[DAG_ID]


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert DAG_ID in dagbag.dags


def test_task_graph_is_exactly_the_chain(dag):
    assert set(dag.task_ids) == set(CHAIN)
    for upstream, downstream in itertools.pairwise(CHAIN):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task(CHAIN[0]).upstream_task_ids == set()
    assert dag.get_task(CHAIN[-1]).downstream_task_ids == set()


def test_every_task_retries_with_backoff(dag):
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff > 1, task.task_id
        assert task.retry_delay > timedelta(0), task.task_id


def test_schedule_and_run_limits(dag):
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "*/10 * * * *" in repr(dag.timetable)


def test_documented_tagged_and_parameterised(dag):
    assert dag.doc_md
    assert "force_retrain" in dag.doc_md
    assert {"mlops", "diabetes", "readmission"} <= set(dag.tags)
    assert dag.params["batches"] == 1
    assert dag.params["force_retrain"] is False


def test_dag_file_holds_no_business_rules():
    source = (DAGS_FOLDER / "orquestador.py").read_text()
    for forbidden in ("sqlalchemy", "pandas", "mlflow", "httpx", "boto3", "sklearn"):
        assert f"import {forbidden}" not in source
        assert f"from {forbidden}" not in source
