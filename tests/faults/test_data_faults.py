"""Faults on the data path: nothing lost, nothing duplicated, a clear error where it cannot go on."""

from __future__ import annotations

import pytest

from tests.support import scenarios

pytestmark = pytest.mark.faults


def test_mariadb_killed_mid_ingest_loses_the_whole_batch_and_the_rerun_completes(genuine_records):
    outcome = scenarios.mariadb_killed_mid_ingest(genuine_records)
    assert outcome.details["error"] == "OperationalError"  # the connection died with the server
    assert outcome.details["after_crash"] == (15_000, 0, 1)  # batch 1 only: batch 2 is all-or-nothing
    assert outcome.details["rerun_inserted"] == 15_000
    assert outcome.details["again_duplicates"] == 15_000
    assert outcome.details["final"] == (30_000, 0, 3)
    assert (outcome.recovered, outcome.rows_lost) == (True, 0)


def test_a_flapping_data_api_is_retried_with_backoff_and_no_row_is_duplicated(data_api, mariadb):
    port = int(data_api.url.rsplit(":", 1)[1])
    outcome = scenarios.data_api_flapping(port, mariadb.fresh_database("flap"))
    steps = outcome.details["steps"]
    assert steps[:5] == ["reset", "503", "slow", "503", "pass"]
    assert set(steps[5:]) <= {"pass"}  # the re-run (a new connection, or the kept-alive one)
    gaps = outcome.details["gaps_seconds"]
    assert gaps[0] < gaps[1] < gaps[3]  # backoff 0.1, 0.2, (0.4 + a 1 s timeout), 0.8 s
    assert gaps[2] >= 1.0  # the slow answer was given up after the client's timeout
    assert (outcome.details["inserted"], outcome.details["rerun_duplicates"]) == (15_000, 15_000)
    assert outcome.details["raw_rows"] == 15_000
    assert (outcome.recovered, outcome.rows_lost) == (True, 0)


def test_hostile_rows_are_quarantined_with_reasons_and_the_tables_stay_intact(genuine_records, mariadb):
    outcome = scenarios.hostile_rows(genuine_records, mariadb.fresh_database("hostile"))
    hostile = len([c for c in scenarios.schema.COLUMNS if not c.is_integer]) + 5  # SQL text in each, 5 defect-3
    assert outcome.details["quarantined"] == hostile
    assert outcome.details["inserted"] == 2000 - hostile
    assert all(reason.split(" ")[0] in {c.name for c in scenarios.schema.COLUMNS}
               for reason in outcome.details["reasons"])  # fmt: skip
    assert outcome.details["tables"] == ["diabetes_raw", "ingestion_log", "quarantine"]
    assert set(outcome.details["check_table"].values()) == {"OK"}
    assert (outcome.recovered, outcome.rows_lost) == (True, 0)


def test_the_object_store_down_during_export_leaves_no_manifest_and_the_retry_succeeds(genuine_records, s3):
    outcome = scenarios.object_store_down_during_export(genuine_records, s3)
    assert outcome.details["error"].startswith("cannot write s3://")
    assert not [key for key in outcome.details["keys_after_failure"] if key.endswith("manifest.json")]
    assert outcome.details["loaded"] == {"train": 2000, "validation": 500, "test": 500}
    assert (outcome.recovered, outcome.rows_lost) == (True, 0)
