"""Ingest the whole UCI set into a throwaway MariaDB: the fast path vs the server's limit and the original.

Fast path: ``ingest.ingest_many`` over 15,000-row batches, as ``readmission ingest --all``
and the DAG's ``store_raw`` run it (vectorised validation of batch k+1 overlapped with the
write of batch k, conflict check against stored rows, quarantine, ``LOAD DATA LOCAL INFILE
... IGNORE``, warnings check, ingestion log, one transaction per batch); also
``ingest_records`` batch after batch (no overlap) and the bulk write alone.
The server's limit: its bare ``LOAD DATA`` of the same rows from CSV files written beforehand,
one transaction per batch; the ratio full ingest / bare load is the goal's figure (<= 1.5).
Original: one tuple per row from ``DataFrame.iterrows()`` and ``cursor.executemany``
of a plain ``INSERT`` (PyMySQL), per batch, no validation.

Run from the repository root: ``.venv/bin/python benchmarks/ingest.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
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


def fast_path(url: str, records: list[dict]) -> float:
    engine = storage.raw_engine(url)
    starts = range(0, len(records), BATCH)
    started = time.perf_counter()
    ingest.ingest_many(engine, starts, lambda s: (s // BATCH + 1, records[s : s + BATCH], "bench"))
    elapsed = time.perf_counter() - started
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return elapsed


def sequential(url: str, records: list[dict]) -> float:
    engine = storage.raw_engine(url)
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        ingest.ingest_records(engine, records[start : start + BATCH], start // BATCH + 1)
    elapsed = time.perf_counter() - started
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return elapsed


def _frames(records: list[dict]) -> list[pd.DataFrame]:
    frames = []
    for start in range(0, len(records), BATCH):
        frame = validation.validate_records(records[start : start + BATCH]).valid
        frame = frame.sort_values("encounter_id", kind="stable", ignore_index=True)
        frame["batch_number"] = start // BATCH + 1
        frame["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        frames.append(frame)
    return frames


def bare_load_data(url: str, records: list[dict]) -> float:
    """The server's own time: ``LOAD DATA LOCAL INFILE`` of CSV files written beforehand, nothing else."""
    import pyarrow as pa

    engine = storage.raw_engine(url)
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    paths = []
    for index, frame in enumerate(_frames(records)):
        path = str(folder / f"batch-{index}.csv")
        assert storage._plain_csv(pa.Table.from_pandas(frame, preserve_index=False), path)
        paths.append((path, list(frame.columns)))
    table = "`diabetes_raw`"
    started = time.perf_counter()
    for path, columns in paths:
        with storage.loading(engine) as conn:
            dbapi = conn.connection.dbapi_connection
            storage._allow_file(dbapi, path)
            cursor = dbapi.cursor()
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s IGNORE INTO TABLE {table} CHARACTER SET utf8mb4 "
                f"FIELDS TERMINATED BY ',' LINES TERMINATED BY '\\n' ({', '.join(f'`{c}`' for c in columns)})",
                (path,),
            )
            cursor.close()
    elapsed = time.perf_counter() - started
    for path, _ in paths:
        os.unlink(path)
    folder.rmdir()
    assert storage.count_rows(engine, storage.diabetes_raw) == len(records)
    return elapsed


class CpuMeter:
    """CPU seconds of this process and of the MariaDB server (robust when the machine is busy)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _server(self) -> float:
        fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def measure(self, func, *args) -> tuple[float, float]:
        client, server = time.process_time(), self._server()
        wall = func(*args)
        return wall, (time.process_time() - client) + (self._server() - server)


def server_pid(server: supervisor.MariaDB) -> int:
    engine = sa.create_engine(server.url("mysql"))
    with engine.connect() as conn:
        pid_file = conn.execute(sa.text("SELECT @@pid_file")).scalar_one()
    engine.dispose()
    return int(Path(pid_file).read_text().strip())


def bulk_write_only(url: str, records: list[dict]) -> float:
    engine = storage.raw_engine(url)
    frames = _frames(records)
    started = time.perf_counter()
    for frame in frames:
        with storage.loading(engine) as conn:
            storage.bulk_insert_frame(conn, storage.diabetes_raw, frame)
    return time.perf_counter() - started


def original_method(url: str, frame: pd.DataFrame) -> float:
    """The original project's loop: iterrows -> list of tuples -> executemany(INSERT)."""
    engine = storage.raw_engine(url)  # same table, created by code
    columns = [*schema.COLUMN_NAMES, "batch_number", "ingested_at"]
    sql = "INSERT INTO diabetes_raw ({}) VALUES ({})".format(
        ", ".join(f"`{c}`" for c in columns), ", ".join(["%s"] * len(columns))
    )
    connection = engine.raw_connection()
    try:
        started = time.perf_counter()
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
        elapsed = time.perf_counter() - started
    finally:
        connection.close()
    assert storage.count_rows(engine, storage.diabetes_raw) == len(frame)
    return elapsed


def main() -> None:
    frame = read_raw_csv(DATA_CSV)
    records = to_records(frame)
    rows = len(records)
    with supervisor.mariadb_server(Path(tempfile.mkdtemp(prefix="bench-mariadb-"))) as server:
        meter = CpuMeter(server_pid(server))
        bare, bare_cpu = fast, fast_cpu = float("inf"), float("inf")
        for _ in range(REPEAT):  # alternate the two figures of the ratio; keep the best of each
            bare, bare_cpu = min(
                (bare, bare_cpu), meter.measure(bare_load_data, server.fresh_database("bare"), records)
            )
            fast, fast_cpu = min((fast, fast_cpu), meter.measure(fast_path, server.fresh_database("fast"), records))
        seq, seq_cpu = meter.measure(sequential, server.fresh_database("sequential"), records)
        write, write_cpu = meter.measure(bulk_write_only, server.fresh_database("write"), records)
        original, original_cpu = meter.measure(original_method, server.fresh_database("original"), frame)
    load = os.getloadavg()[0]
    print(f"rows: {rows:,} in batches of {BATCH:,} into MariaDB; load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'method':<56} wall s     rows/s   CPU s (client+server)")
    for name, wall, cpu in (
        ("server's limit: bare LOAD DATA of ready CSV files", bare, bare_cpu),
        ("fast path: full ingest, validation overlapped", fast, fast_cpu),
        ("fast path: full ingest, batch after batch", seq, seq_cpu),
        ("fast path: bulk write only (CSV + LOAD DATA)", write, write_cpu),
        ("original: iterrows + executemany INSERT", original, original_cpu),
    ):
        print(f"{name:<56} {wall:6.2f} {rows / wall:10,.0f}   {cpu:6.2f}")
    print(f"full validated ingest / bare LOAD DATA (best of {REPEAT} each): {fast / bare:.2f}x overlapped, "
          f"{seq / bare:.2f}x batch after batch (goal <= 1.5x)")  # fmt: skip
    print(
        f"speed-up (wall): full ingest {original / fast:.1f}x, bulk write {original / write:.1f}x; "
        f"(CPU): full ingest {original_cpu / fast_cpu:.1f}x, bulk write {original_cpu / write_cpu:.1f}x"
    )


if __name__ == "__main__":
    main()
