"""Ingest the whole UCI set into a throwaway MariaDB: the fast path vs the original method.

Fast path: ``ingest.ingest_records`` per 15,000-row batch, as ``readmission ingest``
runs it (vectorised validation, quarantine, ``LOAD DATA LOCAL INFILE ... IGNORE``,
ingestion log, one transaction per batch); also the bulk write alone.
Original: one tuple per row from ``DataFrame.iterrows()`` and ``cursor.executemany``
of a plain ``INSERT`` (PyMySQL), per batch, no validation.

Run from the repository root: ``.venv/bin/python benchmarks/ingest.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from tests import services  # noqa: E402

from readmission import ingest, schema, storage, validation  # noqa: E402
from readmission.data_api.loading import read_raw_csv, to_records  # noqa: E402

BATCH = 15_000
CSV = REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"


def fast_path(url: str, records: list[dict]) -> float:
    engine = storage.raw_engine(url)
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        ingest.ingest_records(engine, records[start : start + BATCH], start // BATCH + 1)
    elapsed = time.perf_counter() - started
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


def server_pid(server: services.MariaDB) -> int:
    engine = sa.create_engine(server.url("mysql"))
    with engine.connect() as conn:
        pid_file = conn.execute(sa.text("SELECT @@pid_file")).scalar_one()
    engine.dispose()
    return int(Path(pid_file).read_text().strip())


def bulk_write_only(url: str, records: list[dict]) -> float:
    engine = storage.raw_engine(url)
    frames = []
    for start in range(0, len(records), BATCH):
        frame = validation.validate_records(records[start : start + BATCH]).valid
        frame["batch_number"] = start // BATCH + 1
        frame["ingested_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        frames.append(frame)
    started = time.perf_counter()
    for frame in frames:
        with engine.begin() as conn:
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
    frame = read_raw_csv(CSV)
    records = to_records(frame)
    rows = len(records)
    with services.mariadb_server(Path(tempfile.mkdtemp(prefix="bench-mariadb-"))) as server:
        meter = CpuMeter(server_pid(server))
        fast, fast_cpu = meter.measure(fast_path, server.fresh_database("fast"), records)
        write, write_cpu = meter.measure(bulk_write_only, server.fresh_database("write"), records)
        original, original_cpu = meter.measure(original_method, server.fresh_database("original"), frame)
    load = os.getloadavg()[0]
    print(f"rows: {rows:,} in batches of {BATCH:,} into MariaDB; load average {load:.1f} on {os.cpu_count()} CPUs")
    print("method                                                   wall s     rows/s   CPU s (client+server)")
    for name, wall, cpu in (
        ("fast path: full ingest (validate, quarantine, LOAD DATA)", fast, fast_cpu),
        ("fast path: bulk write only (LOAD DATA LOCAL INFILE)", write, write_cpu),
        ("original: iterrows + executemany INSERT", original, original_cpu),
    ):
        print(f"{name:<56} {wall:6.2f} {rows / wall:10,.0f}   {cpu:6.2f}")
    print(
        f"speed-up (wall): full ingest {original / fast:.1f}x, bulk write {original / write:.1f}x; "
        f"(CPU): full ingest {original_cpu / fast_cpu:.1f}x, bulk write {original_cpu / write_cpu:.1f}x"
    )


if __name__ == "__main__":
    main()
