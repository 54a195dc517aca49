"""The whole DAG, end to end, with ``dag.test()`` against real services.

Real MariaDB (raw and clean databases), a real ``mlflow server`` (MariaDB backend,
``moto_server`` S3 artifacts), S3 for the datasets and the staging area, and the
data API on a free port with small batches. Each DAG run is a subprocess
(``python -m readmission.dagrun``) whose environment is set before Airflow's
first import; the metadata database is SQLite in a temporary ``AIRFLOW_HOME``.
"""

from __future__ import annotations

import pytest

from readmission.dagrun import parse_progress
from tests.support import services
from tests.support.airflow import BATCH_SIZE, Stack, task_states

pytestmark = [pytest.mark.dags, pytest.mark.integration]


@pytest.fixture(scope="module")
def first_run(stack: Stack) -> tuple[dict, dict[str, int]]:
    summary, output = stack.run({"batches": 1})
    assert summary["state"] == "success", output[-8000:]
    return summary, stack.counts()


def test_first_run_fills_every_table_and_crowns_a_champion(stack: Stack, first_run) -> None:
    summary, counts = first_run
    assert set(task_states(summary).values()) == {"success"}
    assert stack.batches() == [1]
    assert 0 < counts["raw"] <= BATCH_SIZE
    assert 0 < counts["clean"] <= counts["raw"]
    assert counts["train"] + counts["validation"] + counts["test"] == counts["clean"]
    assert min(counts["train"], counts["validation"], counts["test"]) > 0
    assert stack.versions() == [1]
    assert stack.champion() == 1


@pytest.fixture(scope="module")
def second_run(stack: Stack, first_run) -> tuple[dict, dict[str, int]]:
    summary, output = stack.run({"batches": 1})
    assert summary["state"] == "success", output[-8000:]
    return summary, stack.counts()


def test_second_run_ingests_the_next_batch_and_trains_a_new_version(stack: Stack, first_run, second_run) -> None:
    _, before = first_run
    _, after = second_run
    assert stack.batches() == [1, 2]
    assert after["raw"] > before["raw"]
    assert after["clean"] > before["clean"]
    assert stack.versions() == [1, 2]
    assert stack.champion() in (1, 2)


def test_rerunning_a_run_adds_no_duplicate_rows(stack: Stack, second_run) -> None:
    summary, before = second_run
    again, output = stack.run({"batches": 1}, args=["--logical-date", summary["logical_date"]])
    assert again["run_id"] == summary["run_id"]
    assert again["state"] == "success", output[-8000:]
    after = stack.counts()
    assert stack.batches() == [1, 2]  # the same batch again, not the next one
    assert {k: v for k, v in after.items() if k != "log"} == {k: v for k, v in before.items() if k != "log"}
    assert after["log"] == before["log"] + 1  # the re-run is recorded, with 0 rows inserted
    assert "batch 2: " in output
    assert " 0 inserted" in output


def test_data_api_down_fails_after_retries_and_leaves_no_partial_batch(stack: Stack, second_run) -> None:
    before = stack.counts()
    down = {"DATA_API_URL": f"http://127.0.0.1:{services.free_port()}"}
    summary, output = stack.run({"batches": 1}, extra=down)
    assert summary["state"] == "failed"
    assert summary["tasks"]["check_source"] == {"state": "failed", "try_number": 3}
    assert f"data API at {down['DATA_API_URL']} is unavailable" in output
    # Airflow's task listener reported each try as it happened (what `readmission run` logs).
    events = [e for e in map(parse_progress, output.splitlines()) if e and e["task"] == "check_source"]
    assert [(e["state"], e["try_number"]) for e in events] == [
        ("running", 1), ("up_for_retry", 1), ("running", 2), ("up_for_retry", 2), ("running", 3), ("failed", 3),
    ]  # fmt: skip
    assert f"data API at {down['DATA_API_URL']} is unavailable" in events[-1]["error"]
    # The source answering /health but failing mid-fetch: fetch_batch fails the same way.
    summary, output = stack.run({"batches": 1}, extra=down, args=["--mark-success", "check_source"])
    assert summary["state"] == "failed"
    assert summary["tasks"]["fetch_batch"] == {"state": "failed", "try_number": 3}
    assert summary["tasks"]["store_raw"]["state"] == "upstream_failed"
    assert f"data API at {down['DATA_API_URL']} is unavailable" in output
    assert stack.counts() == before
