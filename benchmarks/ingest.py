"""Ingest the whole UCI set into a throwaway MariaDB: the fast path vs the server's limit and the original.

Fast path: ``ingest.ingest_many`` over 15,000-row batches, as ``readmission ingest --all``
and the DAG's ``store_raw`` run it (vectorised validation of batch k+1 overlapped with the
write of batch k, conflict check against stored rows, quarantine, ``LOAD DATA LOCAL INFILE
... IGNORE`` of CSV made by pyarrow in memory, warnings check, ingestion log, one transaction
per batch); also ``ingest_records`` batch after batch (no overlap), the client's share alone
(validation and CSV, no database) and the bulk write alone.
The server's limit: its bare ``LOAD DATA`` of the same rows from CSV serialised beforehand,
one transaction per batch; the ratio full ingest / bare load is the goal's figure (<= 1.5).
CPU seconds are counted for the timed section only, this process (every thread) and the server
apart: on a busy machine the wall clock varies, CPU much less. Overlapped, the wall time cannot
go below the slower side: the client preparing or the server loading.
Original: one tuple per row from ``DataFrame.iterrows()`` and ``cursor.executemany``
of a plain ``INSERT`` (PyMySQL), per batch, no validation.

Run from the repository root: ``.venv/bin/python -m benchmarks.ingest``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from readmission import ingest, schema, storage, supervisor, validation
from readmission.config import DATA_CSV
from readmission.data_api.loading import read_raw_csv, to_records

BATCH = 15_000
REPEAT = 3
"""Runs of the bare load and of the full ingest, alternated; the best of each is kept (a busy machine)."""


@dataclass(frozen=True)
class Figures:
    """One timed section: wall seconds, CPU seconds of this process (all threads) and of the server."""

    wall: float
    client: float
    server: float


class Meter:
    """Times a section: wall clock, this process's CPU and the MariaDB server's CPU (robust when busy)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _server(self) -> float:
        fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @contextmanager
    def timed(self) -> Iterator[list[Figures]]:
        out: list[Figures] = []
        wall, client, server = time.perf_counter(), time.process_time(), self._server()
        yield out
        out.append(Figures(time.perf_counter() - wall, time.process_time() - client, self._server() - server))


def fast_path(meter: Meter, url: str, records: list[dict]) -> Figures:
    engine = storage.raw_engine(url)
    starts = range(0, len(records), BATCH)
    with meter.timed() as figures:
        ingest.ingest_many(engine, starts, lambda s: (s // BATCH + 1, records[s : s + BATCH], "bench"))
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return figures[0]


def sequential(meter: Meter, url: str, records: list[dict]) -> Figures:
    engine = storage.raw_engine(url)
    with meter.timed() as figures:
        for start in range(0, len(records), BATCH):
            ingest.ingest_records(engine, records[start : start + BATCH], start // BATCH + 1)
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return figures[0]


def prepare_only(meter: Meter, url: str, records: list[dict]) -> Figures:
    """The client's share of the fast path alone: validation, twins, key order and the CSV, no database."""
    dialect = storage.raw_engine(url).dialect
    with meter.timed() as figures:
        for start in range(0, len(records), BATCH):
            ingest._check(records[start : start + BATCH], start // BATCH + 1, dialect)
    return figures[0]


def _frames(records: list[dict]) -> list[pd.DataFrame]:
    frames = []
    for start in range(0, len(records), BATCH):
        frame = validation.validate_records(records[start : start + BATCH]).valid
        frame = frame.sort_values("encounter_id", kind="stable", ignore_index=True)
        frame["batch_number"] = start // BATCH + 1
        frame["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        frames.append(frame)
    return frames


def bare_load_data(meter: Meter, url: str, records: list[dict]) -> Figures:
    """The server's own time: ``LOAD DATA LOCAL INFILE`` of CSV serialised beforehand, nothing else (no
    validation, no warnings check, no log), one transaction per batch."""
    engine = storage.raw_engine(url)
    table = storage.diabetes_raw
    files = [storage.bulk_file(table, frame, engine.dialect) for frame in _frames(records)]
    assert all("ENCLOSED BY" not in file.sql for file in files)  # the plain CSV of the fast path
    with meter.timed() as figures:
        for file in files:
            with storage.loading(engine) as conn:
                dbapi = conn.connection.dbapi_connection
                cursor = dbapi.cursor()
                storage._allow_file(dbapi, file, storage._packet_bytes(dbapi, cursor))
                cursor.execute(file.sql, (file.name,))
                cursor.close()
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return figures[0]


def server_pid(server: supervisor.MariaDB) -> int:
    engine = sa.create_engine(server.url("mysql"))
    with engine.connect() as conn:
        pid_file = conn.execute(sa.text("SELECT @@pid_file")).scalar_one()
    engine.dispose()
    return int(Path(pid_file).read_text().strip())


def bulk_write_only(meter: Meter, url: str, records: list[dict]) -> Figures:
    engine = storage.raw_engine(url)
    frames = _frames(records)
    with meter.timed() as figures:
        for frame in frames:
            with storage.loading(engine) as conn:
                storage.bulk_insert_frame(conn, storage.diabetes_raw, frame)
    return figures[0]


def original_method(meter: Meter, url: str, frame: pd.DataFrame) -> Figures:
    """The original project's loop: iterrows -> list of tuples -> executemany(INSERT)."""
    engine = storage.raw_engine(url)  # same table, created by code
    columns = [*schema.COLUMN_NAMES, "batch_number", "ingested_at"]
    sql = "INSERT INTO diabetes_raw ({}) VALUES ({})".format(
        ", ".join(f"`{c}`" for c in columns), ", ".join(["%s"] * len(columns))
    )
    connection = engine.raw_connection()
    try:
        with meter.timed() as figures:
            for start in range(0, len(frame), BATCH):
                batch = frame.iloc[start : start + BATCH].copy()
                batch = batch.astype(object).where(batch.notna(), None)
                batch["batch_number"] = start // BATCH + 1
                batch["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
                values = [tuple(row) for _, row in batch.iterrows()]
                cursor = connection.cursor()
                cursor.executemany(sql, values)
                connection.commit()
                cursor.close()
    finally:
        connection.close()
    assert storage.count_rows(engine, storage.diabetes_raw) == len(frame)
    return figures[0]


def main() -> None:
    frame = read_raw_csv(DATA_CSV)
    records = to_records(frame)
    rows = len(records)
    load_before = os.getloadavg()[0]
    with supervisor.mariadb_server(Path(tempfile.mkdtemp(prefix="bench-mariadb-"))) as server:
        meter = Meter(server_pid(server))
        bare = fast = Figures(float("inf"), 0.0, 0.0)
        for _ in range(REPEAT):  # alternate the two figures of the ratio; keep the best (wall) of each
            bare = min(bare, bare_load_data(meter, server.fresh_database("bare"), records), key=lambda f: f.wall)
            fast = min(fast, fast_path(meter, server.fresh_database("fast"), records), key=lambda f: f.wall)
        prepare = prepare_only(meter, server.fresh_database("prepare"), records)
        seq = sequential(meter, server.fresh_database("sequential"), records)
        write = bulk_write_only(meter, server.fresh_database("write"), records)
        original = original_method(meter, server.fresh_database("original"), frame)
    load = os.getloadavg()[0]
    print(f"rows: {rows:,} in batches of {BATCH:,} into MariaDB; load average {load_before:.1f} before, "
          f"{load:.1f} after, on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'method':<56} wall s     rows/s   CPU s: client  server")
    for name, figures in (
        ("server's limit: bare LOAD DATA of ready CSV", bare),
        ("fast path: full ingest, validation overlapped", fast),
        ("fast path: full ingest, batch after batch", seq),
        ("fast path: client's share alone (validate + CSV)", prepare),
        ("fast path: bulk write only (CSV + LOAD DATA)", write),
        ("original: iterrows + executemany INSERT", original),
    ):
        cpu = f"{figures.client:12.2f} {figures.server:7.2f}"
        print(f"{name:<56} {figures.wall:6.2f} {rows / figures.wall:10,.0f}   {cpu}")
    print(f"full validated ingest / bare LOAD DATA (best of {REPEAT} each): {fast.wall / bare.wall:.2f}x overlapped, "
          f"{seq.wall / bare.wall:.2f}x batch after batch (goal <= 1.5x)")  # fmt: skip
    print(f"overlapped, the pipeline's floor is its slower side: client {prepare.client:.2f} s CPU to prepare, "
          f"server {bare.server:.2f} s CPU to load")  # fmt: skip
    print(
        f"speed-up (wall): full ingest {original.wall / fast.wall:.1f}x, bulk write {original.wall / write.wall:.1f}x"
    )


if __name__ == "__main__":
    main()
