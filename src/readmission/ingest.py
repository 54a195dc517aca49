"""Batches from the data API into ``diabetes_raw``: validate, quarantine, bulk-insert, log.

Every row is checked by :func:`validation.validate_records` (the validator the API
uses too). Invalid rows go to ``quarantine`` with every reason; so does a row whose
``encounter_id`` is already stored, or sent twice in the batch, with other values
(a conflicting duplicate). A row identical to the stored one is a harmless duplicate:
counted, not written. A batch is written in one transaction (raw rows, quarantine,
``ingestion_log``), so a crash leaves nothing half-written and a re-run is safe;
a bulk load the server answers with a warning (a truncated value...) fails the
whole batch (:class:`storage.LoadWarningError`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa

from readmission import schema, storage
from readmission.data_source import DataSourceClient, DataSourceError
from readmission.validation import validate_records

logger = logging.getLogger(__name__)
K = TypeVar("K")

__all__ = [
    "DataSourceError",
    "IngestResult",
    "available_batches",
    "ingest_all",
    "ingest_batch",
    "ingest_many",
    "ingest_records",
    "ingested_batches",
]


@dataclass(frozen=True)
class IngestResult:
    batch_number: int
    received: int
    inserted: int
    duplicates: int
    quarantined: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- writing


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _row_hash(record: Any) -> str:
    return hashlib.sha256(json.dumps(_json_safe(record), sort_keys=True).encode()).hexdigest()


def _json_safe(value: Any) -> Any:
    """``value`` as strict JSON: non-finite floats and other objects become their repr."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return repr(value)


def _quarantine_rows(
    invalid: list[tuple[Mapping[str, Any], list[str]]], batch_number: int, at: datetime
) -> list[dict[str, Any]]:
    rows = []
    for record, reasons in invalid:
        encounter = record.get("encounter_id") if isinstance(record, Mapping) else None
        rows.append(
            {
                "batch_number": batch_number,
                "row_hash": _row_hash(record),
                "encounter_id": encounter if type(encounter) is int and 0 < encounter < 2**63 else None,
                "reason": "; ".join(reasons),
                "record": _json_safe(record),
                "quarantined_at": at,
            }
        )
    return rows


def _differences(stored: Sequence[Any], sent: Sequence[Any]) -> list[str]:
    return [name for name, a, b in zip(schema.COLUMN_NAMES, stored, sent, strict=True) if a != b]


@dataclass
class _Sorted:
    """The valid rows of a batch sorted into new rows, harmless duplicates and conflicting ones."""

    frame: pd.DataFrame
    """The rows to load."""
    positions: np.ndarray
    """The position in the batch of each row of ``frame``."""
    duplicates: int
    conflicts: list[tuple[Mapping[str, Any], list[str]]]


def _twins(frame: pd.DataFrame, positions: np.ndarray, records: Sequence[Mapping[str, Any]]) -> _Sorted:
    """Rows whose ``encounter_id`` appears again later in the batch: identical ones are duplicates,
    different ones conflicts (the first row of an ``encounter_id`` is the one kept)."""
    repeated = frame["encounter_id"].duplicated(keep="first").to_numpy()
    if not repeated.any():
        return _Sorted(frame, positions, 0, [])
    names = list(schema.COLUMN_NAMES)
    first = {
        row[0]: row for row in frame.loc[~repeated, names].itertuples(index=False, name=None)
    }  # encounter_id -> first row
    duplicates, conflicts = 0, []
    for offset, row in zip(
        np.flatnonzero(repeated).tolist(), frame.loc[repeated, names].itertuples(index=False, name=None), strict=True
    ):
        differing = _differences(first[row[0]], row)
        if differing:
            conflicts.append((records[positions[offset]], [
                f"encounter_id {row[0]} is sent twice in this batch with other values ({', '.join(differing)})"
            ]))  # fmt: skip
        else:
            duplicates += 1
    return _Sorted(frame.loc[~repeated].reset_index(drop=True), positions[~repeated], duplicates, conflicts)


def _conflicts_with_stored(
    conn: sa.Connection, frame: pd.DataFrame, positions: np.ndarray, records: Sequence[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], list[str]]]:
    """The loaded rows whose stored row differs: an older row under that ``encounter_id`` that the load's
    ``IGNORE`` kept (a row this load inserted is identical to what was sent)."""
    names = list(schema.COLUMN_NAMES)
    stored = storage.rows_by_key(conn, storage.diabetes_raw, names, frame["encounter_id"].tolist())
    conflicts: list[tuple[Mapping[str, Any], list[str]]] = []
    for position, row in zip(positions.tolist(), frame[names].itertuples(index=False, name=None), strict=True):
        differing = _differences(stored[row[0]], row)
        if differing:
            conflicts.append((records[position], [
                f"encounter_id {row[0]} was already ingested with other values ({', '.join(differing)})"
            ]))  # fmt: skip
    return conflicts


@dataclass(frozen=True)
class _Checked:
    """A batch ready to write: everything that needs no database is done (validation, repeated
    ``encounter_id``s, the rows in key order, their CSV in memory on MySQL)."""

    records: Sequence[Mapping[str, Any]]
    batch_number: int
    invalid: list[tuple[Mapping[str, Any], list[str]]]
    twins: _Sorted
    """Rows to load in ``encounter_id`` order (with ``batch_number`` and ``ingested_at``), their positions."""
    prepared: storage.BulkFile | None
    started: float
    started_at: datetime


def _check(records: Sequence[Mapping[str, Any]], batch_number: int, dialect: sa.Dialect) -> _Checked:
    started, started_at = time.perf_counter(), _now()
    validation = validate_records(records)
    twins = _twins(validation.valid, validation.valid_index, records)
    # Key order makes the primary-key inserts sequential (the source sends a shuffled order).
    order = np.argsort(twins.frame["encounter_id"].to_numpy(), kind="stable")
    frame = twins.frame.iloc[order].reset_index(drop=True)
    frame["batch_number"] = batch_number
    frame["ingested_at"] = started_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    rows = _Sorted(frame, twins.positions[order], twins.duplicates, twins.conflicts)
    prepared = None
    if len(frame) and dialect.name in ("mysql", "mariadb"):
        prepared = storage.bulk_file(storage.diabetes_raw, frame, dialect)
    return _Checked(records, batch_number, validation.invalid, rows, prepared, started, started_at)


def ingest_records(
    engine: sa.Engine, records: Sequence[Mapping[str, Any]], batch_number: int, *, source: str = "direct"
) -> IngestResult:
    """Validate and write one batch in a single transaction; safe to repeat."""
    return _write(engine, _check(records, batch_number, engine.dialect), source)


Batch = tuple[int, Sequence[Mapping[str, Any]], str]
"""A batch to ingest: its number, its records and where it came from."""


def ingest_many(engine: sa.Engine, keys: Iterable[K], load: Callable[[K], Batch]) -> list[IngestResult]:
    """Ingest the batch ``load(key)`` of each key in order, one transaction each, like :func:`ingest_records`.

    Batch k+1 is loaded (fetched, read), validated and serialised to CSV in a worker thread
    while batch k is written (the server loads it; the client mostly waits on the socket), so the
    checks cost little wall time on top of the load. Batch k is written before a failure to get
    batch k+1 is raised."""

    def check(key: K) -> tuple[str, _Checked]:
        number, records, source = load(key)
        return source, _check(records, number, engine.dialect)

    results: list[IngestResult] = []
    pending: Future[tuple[str, _Checked]] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-check") as pool:
        for key in keys:
            checking = pool.submit(check, key)
            if pending is not None:
                source, checked = pending.result()
                results.append(_write(engine, checked, source))
            pending = checking
        if pending is not None:
            source, checked = pending.result()
            results.append(_write(engine, checked, source))
    return results


def _write(engine: sa.Engine, checked: _Checked, source: str) -> IngestResult:
    """Write one checked batch in a single transaction (raw rows, quarantine, ingestion log)."""
    records, rows, batch_number, started_at = checked.records, checked.twins, checked.batch_number, checked.started_at
    with storage.loading(engine) as conn:
        inserted = storage.bulk_insert_frame(conn, storage.diabetes_raw, rows.frame, prepared=checked.prepared)
        skipped = len(rows.frame) - inserted
        conflicts = _conflicts_with_stored(conn, rows.frame, rows.positions, records) if skipped else []
        quarantine_rows = _quarantine_rows([*checked.invalid, *rows.conflicts, *conflicts], batch_number, started_at)
        storage.insert_ignore(conn, storage.quarantine, quarantine_rows)
        result = IngestResult(
            batch_number=batch_number,
            received=len(records),
            inserted=inserted,
            duplicates=rows.duplicates + skipped - len(conflicts),
            quarantined=len(quarantine_rows),
            seconds=0.0,
        )
        conn.execute(
            sa.insert(storage.ingestion_log).values(
                batch_number=batch_number,
                source=source[:255],
                received=result.received,
                inserted=result.inserted,
                duplicates=result.duplicates,
                quarantined=result.quarantined,
                started_at=started_at,
                finished_at=_now(),
            )
        )
    seconds = time.perf_counter() - checked.started
    logger.info(
        "batch %d: %d received, %d inserted, %d duplicates, %d quarantined in %.2f s",
        batch_number, result.received, result.inserted, result.duplicates, result.quarantined, seconds,
    )  # fmt: skip
    return IngestResult(**{**result.as_dict(), "seconds": round(seconds, 3)})


def ingest_batch(engine: sa.Engine, client: DataSourceClient, batch_number: int) -> IngestResult:
    """Fetch batch ``batch_number`` and ingest it (nothing is written if the fetch fails)."""
    batch = client.get_batch(batch_number)
    return ingest_records(engine, batch.data, batch.batch_number, source=client.base_url)


def ingested_batches(engine: sa.Engine) -> set[int]:
    """Batch numbers with at least one completed ingestion run."""
    with engine.connect() as conn:
        return set(conn.execute(sa.select(storage.ingestion_log.c.batch_number).distinct()).scalars())


def available_batches(meta: Mapping[str, Any]) -> int:
    """How many batches the source serves now: up to the current one, or all once exhausted."""
    total = int(meta["total_batches"])
    current = meta.get("current_batch")
    if meta.get("exhausted") or not isinstance(current, int):
        return total
    return min(current, total)


def ingest_all(engine: sa.Engine, client: DataSourceClient, *, again: bool = False) -> list[IngestResult]:
    """Ingest every batch the source has (1..total, a backfill) not ingested yet; all with ``again``."""
    total = client.total_batches()
    done = set() if again else ingested_batches(engine)

    def fetch(number: int) -> Batch:
        batch = client.get_batch(number)
        return batch.batch_number, batch.data, client.base_url

    return ingest_many(engine, [n for n in range(1, total + 1) if n not in done], fetch)
