"""A DAG run in its own interpreter (`readmission.dagrun`): its summary line and its Airflow environment."""

from __future__ import annotations

import pytest

from readmission.config import Settings
from readmission.dagrun import SUMMARY_PREFIX, airflow_env, parse_summary

pytestmark = pytest.mark.unit


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
