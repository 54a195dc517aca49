"""Ingestion into diabetes_raw on SQLite and MariaDB: validation, quarantine, idempotency, crashes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from readmission import ingest, pipeline, schema, storage, validation
from readmission.config import Settings
from readmission.data_source import DataSourceClient, DataSourceUnavailableError
from tests.support import services

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
        (dict(sample[7], diag_1="banana"), "diag_1 'banana' is not an ICD-9-CM code"),
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
    checked = validation.validate_records(rows)
    expected_invalid = [r for r in rows if validation.check_record(r, require_target=True)]
    assert [record for record, _ in checked.invalid] == expected_invalid
    for record, reasons in checked.invalid:
        assert reasons == validation.check_record(record, require_target=True)
    assert len(checked.valid) == len(rows) - len(expected_invalid)


def test_a_crash_mid_batch_leaves_nothing_and_a_rerun_completes(dbs, sample):
    batch = [dict(sample[0], age="bogus"), *sample[1:800]]
    engine = dbs.raw
    loader = storage.loading_engine(engine)  # the connection of the batch's transaction

    def drop_connection(conn, _cursor, statement, *_args):
        if "quarantine" in statement and statement.lstrip().upper().startswith("INSERT"):
            conn.connection.dbapi_connection.close()  # the link dies after the raw rows were sent

    sa.event.listen(loader, "before_cursor_execute", drop_connection)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            ingest.ingest_records(engine, batch, 1)
    finally:
        sa.event.remove(loader, "before_cursor_execute", drop_connection)
    assert _counts(engine) == (0, 0, 0)  # the transaction was rolled back as a whole
    result = ingest.ingest_records(engine, batch, 1)
    assert (result.inserted, result.quarantined) == (799, 1)
    assert _counts(engine) == (799, 1, 1)


def test_an_encounter_sent_twice_in_a_batch_keeps_the_first_row_and_quarantines_a_different_twin(dbs, sample):
    twin = dict(sample[1], race="Other" if sample[1]["race"] != "Other" else "Asian")  # same encounter_id
    result = ingest.ingest_records(dbs.raw, [*sample[:5], twin, dict(sample[2])], 1)
    assert (result.inserted, result.duplicates, result.quarantined) == (5, 1, 1)
    (entry,) = _quarantine(dbs.raw)
    assert (
        entry["reason"]
        == f"encounter_id {sample[1]['encounter_id']} is sent twice in this batch with other values (race)"
    )
    stored = storage.read_table(dbs.raw, storage.diabetes_raw).set_index("encounter_id")
    assert stored.loc[sample[1]["encounter_id"], "race"] == sample[1]["race"]


def _quarantine(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(row)
            for row in conn.execute(sa.select(storage.quarantine).order_by(storage.quarantine.c.id)).mappings()
        ]


def test_an_encounter_re_sent_with_other_values_is_quarantined_and_an_identical_one_is_a_duplicate(dbs, sample):
    ingest.ingest_records(dbs.raw, sample[:50], 1)
    changed = dict(sample[3], num_medications=sample[3]["num_medications"] + 1, diag_1="428")
    again = [*sample[:3], changed, *sample[4:50], *sample[50:60]]
    result = ingest.ingest_records(dbs.raw, again, 2)
    assert (result.received, result.inserted, result.duplicates, result.quarantined) == (60, 10, 49, 1)
    (entry,) = _quarantine(dbs.raw)
    differing = "num_medications, diag_1" if sample[3]["diag_1"] != "428" else "num_medications"
    assert (
        entry["reason"]
        == f"encounter_id {sample[3]['encounter_id']} was already ingested with other values ({differing})"
    )
    assert (entry["encounter_id"], entry["batch_number"]) == (sample[3]["encounter_id"], 2)
    stored = storage.read_table(dbs.raw, storage.diabetes_raw).set_index("encounter_id")
    assert stored.loc[sample[3]["encounter_id"], "num_medications"] == sample[3]["num_medications"]  # first one kept
    assert storage.count_rows(dbs.raw, storage.diabetes_raw) == 60
    repeat = ingest.ingest_records(dbs.raw, again, 2)  # the same batch again: no second quarantine copy
    assert (repeat.inserted, repeat.duplicates) == (0, 59)
    assert len(_quarantine(dbs.raw)) == 1


HOSTILE_VALUES = [
    ("diag_1", "250\n", "diag_1 '250\\n' is not an ICD-9-CM code"),
    ("diag_2", "\u0662\u0665\u0660", "diag_2 '\u0662\u0665\u0660' is not an ICD-9-CM code"),  # Arabic-Indic digits
    ("diag_3", "\uff12\uff15\uff10.01", "diag_3 '\uff12\uff15\uff10.01' is not an ICD-9-CM code"),  # full-width
    ("medical_specialty", "Cardiology\n", "medical_specialty 'Cardiology\\n' is not a name"),
    ("medical_specialty", "C" * 65, "medical_specialty 'CCCCC"),
    ("medical_specialty", "Cardiology'; DROP TABLE diabetes_raw; --", "medical_specialty \"Cardiology'; DROP"),
    ("race", "Caucasian\n", "race 'Caucasian\\n' is not one of"),
    ("payer_code", "MC' OR '1'='1", "payer_code \"MC' OR '1'='1\" is not one of"),
]


def test_hostile_values_are_quarantined_with_their_reason_and_the_rest_is_ingested(dbs, sample):
    hostile = [dict(sample[i], **{name: value}) for i, (name, value, _) in enumerate(HOSTILE_VALUES)]
    good = sample[20:120]
    result = ingest.ingest_records(dbs.raw, [*hostile, *good], 3)
    assert (result.inserted, result.quarantined) == (len(good), len(hostile))
    for (_, _, reason), entry in zip(HOSTILE_VALUES, _quarantine(dbs.raw), strict=True):
        assert entry["reason"].startswith(reason), entry["reason"]
    stored = storage.read_table(dbs.raw, storage.diabetes_raw)
    assert sorted(stored["encounter_id"]) == sorted(r["encounter_id"] for r in good)


@pytest.fixture(scope="module")
def data_api_at_batch_one(service_dir):
    """A data API of its own whose cycle stays at batch 1 (the session's moves on every 300 s)."""
    with services.data_api_server(service_dir, interval_seconds=86_400) as server:
        yield server


def test_batches_come_from_the_real_data_api(dbs, data_api_at_batch_one):
    with DataSourceClient(data_api_at_batch_one.url, timeout=30, retries=1) as client:
        assert client.total_batches() == 7
        first = ingest.ingest_batch(dbs.raw, client, 1)
        settings = Settings(raw_database_url=dbs.raw_url, data_api_url=data_api_at_batch_one.url)
        nxt = pipeline.ingest_next(settings)  # batch 1 is the current one: nothing new
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


def _one_frame(sample: list[dict], **change: object) -> pd.DataFrame:
    frame = pd.DataFrame([dict(row, **change) for row in sample[:3]], columns=list(schema.COLUMN_NAMES))
    frame["batch_number"] = 1
    frame["ingested_at"] = "2026-01-01 00:00:00"
    return frame


def _log_and_load(engine: sa.Engine, frame: pd.DataFrame) -> None:
    """One transaction: an ingestion_log row, then the bulk write of ``frame``."""
    with storage.loading(engine) as conn:
        conn.execute(sa.insert(storage.ingestion_log).values(
            batch_number=1, source="t", received=3, inserted=3, duplicates=0, quarantined=0,
            started_at=ingest._now(), finished_at=ingest._now(),
        ))  # fmt: skip
        storage.bulk_insert_frame(conn, storage.diabetes_raw, frame)


@pytest.mark.parametrize("local_infile", [1, 0], ids=["load-data", "multirow-insert"])
def test_a_bulk_write_the_server_truncates_fails_whole(mariadb, sample, local_infile):
    engine = storage.raw_engine(mariadb.fresh_database("warn"))
    long_value = "C" * 65  # VARCHAR(64): MySQL's IGNORE would store 64 characters and warn
    mariadb.admin(f"SET GLOBAL local_infile = {local_infile}")
    try:
        with pytest.raises(storage.LoadWarningError, match=r"1 warning\(s\) besides skipped duplicates.*1406|1265"):
            _log_and_load(engine, _one_frame(sample, medical_specialty=long_value))
        assert _counts(engine) == (0, 0, 0)  # the whole transaction, log row included, is gone
        with storage.loading(engine) as conn:  # duplicates alone are not a failure
            assert storage.bulk_insert_frame(conn, storage.diabetes_raw, _one_frame(sample)) == 3
            assert storage.bulk_insert_frame(conn, storage.diabetes_raw, _one_frame(sample)) == 0
    finally:
        mariadb.admin("SET GLOBAL local_infile = 1")


# Values a serialiser gets wrong: NULL markers, delimiters, escapes, line breaks, quotes, 4-byte UTF-8.
AWKWARD_TEXT = ["\\N", "NULL", "null", "tab\there", "line\nbreak", "cr\r\nlf", "back\\slash", "trailing\\",
                "a,b", 'say "hi"', "it's", "'", '"', "Cardiología ✓ 🩺", " padded "]  # fmt: skip


@pytest.mark.parametrize("quoted", [False, True], ids=["plain-csv", "quoted-csv"])
def test_bulk_writes_round_trip_awkward_text_and_nulls_exactly(dbs, sample, quoted):
    """Through the loader as ingest uses it (LOAD DATA of the in-memory CSV on MariaDB, INSERT on SQLite)."""
    plain = [v for v in AWKWARD_TEXT if not set(v) & set(',"\n\r\\')]
    values = AWKWARD_TEXT if quoted else plain
    rows = [dict(sample[i], medical_specialty=value) for i, value in enumerate(values)]
    rows += [dict(sample[len(values) + i], medical_specialty=None, payer_code=None) for i in range(3)]
    frame = pd.DataFrame(rows, columns=list(schema.COLUMN_NAMES)).assign(
        batch_number=1, ingested_at="2026-01-01 00:00:00"
    )
    if dbs.backend == "mariadb":  # the CSV format the values call for
        sql = storage.bulk_file(storage.diabetes_raw, frame, dbs.raw.dialect).sql
        assert ("ENCLOSED BY" in sql) is quoted
    with storage.loading(dbs.raw) as conn:
        assert storage.bulk_insert_frame(conn, storage.diabetes_raw, frame) == len(rows)
        assert storage.bulk_insert_frame(conn, storage.diabetes_raw, frame) == 0  # duplicates: no warning
    stored = storage.read_table(dbs.raw, storage.diabetes_raw).set_index("encounter_id")
    for row in rows:
        kept = stored.loc[row["encounter_id"]]
        assert {name: kept[name] for name in schema.COLUMN_NAMES if name != "encounter_id"} == {
            name: row[name] for name in schema.COLUMN_NAMES if name != "encounter_id"
        }, row["medical_specialty"]
