"""A DAG run in its own interpreter (`readmission.dagrun`): its summary line and its Airflow environment."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace

import pytest

from readmission.config import Settings
from readmission.dagrun import PROGRESS_PREFIX, SUMMARY_PREFIX, TaskProgress, airflow_env, parse_progress, parse_summary

pytestmark = pytest.mark.unit


class State(str, Enum):  # noqa: UP042 - as Airflow defines TaskInstanceState
    UP_FOR_RETRY = "up_for_retry"


def test_the_dagrun_summary_is_found_in_the_output() -> None:
    output = f"noise\n{SUMMARY_PREFIX}" + '{"state": "success", "tasks": {}}\nmore noise\n'
    assert parse_summary(output) == {"state": "success", "tasks": {}}
    assert parse_summary("nothing") is None


def test_airflow_lives_under_local_dir_by_default(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__DAGS_FOLDER", raising=False)
    env = airflow_env(Settings(local_dir=tmp_path))
    assert env["AIRFLOW_HOME"] == str((tmp_path / "airflow").resolve())
    assert env["AIRFLOW__CORE__DAGS_FOLDER"].endswith("dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"


def test_task_events_are_printed_as_json_lines_and_read_back() -> None:
    lines: list[str] = []
    progress = TaskProgress(write=lines.append)
    # Airflow's states are str enums, whose str() is "TaskInstanceState.UP_FOR_RETRY": the value is printed.
    task = SimpleNamespace(task_id="check_source", try_number=2, state=State.UP_FOR_RETRY)
    progress.on_task_instance_running(None, task)
    progress.on_task_instance_failed(None, task, ConnectionError("data API down"))
    progress.on_task_instance_skipped(None, SimpleNamespace(task_id="train_models", try_number=1, state="skipped"))
    assert all(line.startswith(PROGRESS_PREFIX) and line.endswith("\n") for line in lines)
    assert [parse_progress(line) for line in lines] == [
        {"task": "check_source", "state": "running", "try_number": 2},
        {"task": "check_source", "state": "up_for_retry", "try_number": 2, "error": "data API down"},
        {"task": "train_models", "state": "skipped", "try_number": 1},
    ]
    assert parse_progress("[DAG TEST] starting task_id=check_source map_index=-1") is None
