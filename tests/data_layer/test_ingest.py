"""Ingestion into diabetes_raw on SQLite and MariaDB: validation, quarantine, idempotency, crashes."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from readmission import ingest, schema, storage
from readmission.data_source import DataSourceClient, DataSourceUnavailableError
from tests import services

pytestmark = pytest.mark.integration


def _counts(engine: sa.Engine) -> tuple[int, int, int]:
    return (
        storage.count_rows(engine, storage.diabetes_raw),
        storage.count_rows(engine, storage.quarantine),
        storage.count_rows(engine, storage.ingestion_log),
    )


def test_valid_rows_round_trip_with_their_types(dbs, sample):
    result = ingest.ingest_records(dbs.raw, sample[:500], 1)
    assert (result.received, result.inserted, result.duplicates, result.quarantined) == (500, 500, 0, 0)
    stored = storage.read_table(dbs.raw, storage.diabetes_raw).sort_values("encounter_id")
    expected = sorted(sample[:500], key=lambda r: r["encounter_id"])
    assert [
        {name: row[name] for name in schema.COLUMN_NAMES} for row in stored.to_dict("records")
    ] == expected  # None stays None, "None" stays "None", ints stay ints
    assert set(stored["batch_number"]) == {1}


def test_resending_a_batch_inserts_nothing_and_logs_duplicates(dbs, sample):
    first = ingest.ingest_records(dbs.raw, sample[:1000], 1)
    again = ingest.ingest_records(dbs.raw, sample[:1000], 1)
    overlapping = ingest.ingest_records(dbs.raw, sample[500:1500], 2)
    assert (first.inserted, first.duplicates) == (1000, 0)
    assert (again.inserted, again.duplicates) == (0, 1000)
    assert (overlapping.inserted, overlapping.duplicates) == (500, 500)
    assert storage.count_rows(dbs.raw, storage.diabetes_raw) == 1500
    with dbs.raw.connect() as conn:
        log = conn.execute(
            sa.select(storage.ingestion_log.c["batch_number", "received", "inserted", "duplicates"]).order_by(
                storage.ingestion_log.c.id
            )
        ).all()
    assert [tuple(row) for row in log] == [(1, 1000, 1000, 0), (1, 1000, 0, 1000), (2, 1000, 500, 500)]


def _bad_rows(sample: list[dict]) -> list[tuple[dict, str]]:
    no_id = {k: v for k, v in sample[2].items() if k != "encounter_id"}
    return [
        (dict(sample[0], age="[100-110)"), "age '[100-110)' is not one of"),
        (dict(sample[1], num_procedures=-1), "num_procedures must be >= 0, got -1"),
        (no_id, "encounter_id is missing"),
        (dict(sample[3], encounter_id=None), "encounter_id is required"),
        (dict(sample[4], time_in_hospital="3"), "time_in_hospital must be an integer, got '3'"),
        (dict(sample[5], gender=True), "gender must be a string, got True"),
        (dict(sample[6], discharge_disposition_id=99), "discharge_disposition_id 99 is not a known code"),
        (dict(sample[7], diag_1="banana"), "diag_1 'banana' is not an ICD-9 code"),
    ]


def test_invalid_rows_are_quarantined_with_their_reason(dbs, sample):
    bad = _bad_rows(sample)
    good = sample[10:110]
    batch = [row for row, _ in bad] + good
    result = ingest.ingest_records(dbs.raw, batch, 7)
    assert (result.received, result.inserted, result.quarantined) == (len(batch), len(good), len(bad))
    with dbs.raw.connect() as conn:
        stored = conn.execute(sa.select(storage.quarantine).order_by(storage.quarantine.c.id)).mappings().all()
    assert len(stored) == len(bad)
    for (row, reason), entry in zip(bad, stored, strict=True):
        assert reason in entry["reason"]
        assert entry["batch_number"] == 7
        record = entry["record"] if isinstance(entry["record"], dict) else json.loads(entry["record"])
        assert record == row  # the raw row, verbatim
    # the same bad rows again: no second copy, and still no invalid row in diabetes_raw
    ingest.ingest_records(dbs.raw, batch, 7)
    assert _counts(dbs.raw)[:2] == (len(good), len(bad))


def test_validation_agrees_with_check_record(sample):
    rows = [row for row, _ in _bad_rows(sample)] + sample[20:40]
    validation = ingest.validate_records(rows)
    expected_invalid = [r for r in rows if schema.check_record(r, require_target=True)]
    assert [record for record, _ in validation.invalid] == expected_invalid
    for record, reasons in validation.invalid:
        assert reasons == schema.check_record(record, require_target=True)
    assert len(validation.valid) == len(rows) - len(expected_invalid)


def test_a_crash_mid_batch_leaves_nothing_and_a_rerun_completes(dbs, sample):
    batch = [dict(sample[0], age="bogus"), *sample[1:800]]
    engine = dbs.raw

    def drop_connection(conn, _cursor, statement, *_args):
        if "quarantine" in statement and statement.lstrip().upper().startswith("INSERT"):
            conn.connection.dbapi_connection.close()  # the link dies after the raw rows were sent

    sa.event.listen(engine, "before_cursor_execute", drop_connection)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            ingest.ingest_records(engine, batch, 1)
    finally:
        sa.event.remove(engine, "before_cursor_execute", drop_connection)
    assert _counts(engine) == (0, 0, 0)  # the transaction was rolled back as a whole
    result = ingest.ingest_records(engine, batch, 1)
    assert (result.inserted, result.quarantined) == (799, 1)
    assert _counts(engine) == (799, 1, 1)


def test_a_unique_key_violation_inside_the_batch_keeps_the_first_row(dbs, sample):
    twin = dict(sample[1], race="Other")  # same encounter_id as sample[1]
    result = ingest.ingest_records(dbs.raw, [*sample[:5], twin], 1)
    assert (result.inserted, result.duplicates) == (5, 1)


def test_batches_come_from_the_real_data_api(dbs, data_api):
    with DataSourceClient(data_api.url, timeout=30, retries=1) as client:
        assert client.total_batches() == 7
        first = ingest.ingest_batch(dbs.raw, client, 1)
        nxt = ingest.ingest_next(dbs.raw, client)  # batch 1 is the current one: nothing new
        again = ingest.ingest_batch(dbs.raw, client, 1)
    assert (first.received, first.inserted, first.quarantined) == (15_000, 15_000, 0)
    assert nxt is None
    assert (again.inserted, again.duplicates) == (0, 15_000)
    assert storage.count_rows(dbs.raw, storage.diabetes_raw) == 15_000


def test_a_source_that_stays_down_raises_a_clear_error_and_writes_nothing(dbs):
    url = f"http://127.0.0.1:{services.free_port()}"
    with DataSourceClient(url, timeout=1, retries=2, backoff=0.01) as client:
        with pytest.raises(DataSourceUnavailableError, match=r"unavailable after 3 attempt\(s\)"):
            ingest.ingest_batch(dbs.raw, client, 1)
        with pytest.raises(DataSourceUnavailableError):
            ingest.ingest_all(dbs.raw, client)
    assert _counts(dbs.raw) == (0, 0, 0)


def test_a_server_without_local_infile_falls_back_to_multirow_inserts(mariadb, sample):
    engine = storage.raw_engine(mariadb.fresh_database("noinfile"))
    mariadb.admin("SET GLOBAL local_infile = 0")
    try:
        first = ingest.ingest_records(engine, sample[:700], 1)
        again = ingest.ingest_records(engine, sample[:700], 1)
    finally:
        mariadb.admin("SET GLOBAL local_infile = 1")
    assert (first.inserted, again.inserted, again.duplicates) == (700, 0, 700)
    assert storage.count_rows(engine, storage.diabetes_raw) == 700
