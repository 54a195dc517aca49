"""Batches from the data API into ``diabetes_raw``: validate, quarantine, bulk-insert, log.

Every row is checked against :mod:`readmission.schema` with exactly the semantics
of :func:`schema.check_value` (vectorised: a column is checked by its distinct
values, or cell by cell only when its types are mixed). Invalid rows go to
``quarantine`` with every reason; valid rows are inserted with insert-ignore on
``encounter_id``. A batch is written in one transaction (raw rows, quarantine,
``ingestion_log``), so a crash leaves nothing half-written and a re-run is safe;
re-sending a batch inserts 0 rows and logs them as duplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import operator
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pandas.api.types import infer_dtype

from readmission import schema, storage
from readmission.data_source import DataSourceClient, DataSourceError

logger = logging.getLogger(__name__)

__all__ = [
    "DataSourceError",
    "IngestResult",
    "Validation",
    "available_batches",
    "ingest_all",
    "ingest_batch",
    "ingest_next",
    "ingest_records",
    "ingested_batches",
    "validate_records",
]

RAW_COLUMN_NAMES = frozenset(schema.COLUMN_NAMES)


@dataclass(frozen=True)
class Validation:
    valid: pd.DataFrame
    """The valid rows: the 50 columns, int64 for integer columns, object (str/None) otherwise."""
    invalid: list[tuple[Mapping[str, Any], list[str]]]
    """Each invalid row with every reason."""


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


# --------------------------------------------------------------------------- validation


def _column_problems(column: schema.Column, values: np.ndarray) -> dict[int, str]:
    """``{row index: reason}`` for the cells of one column that ``check_value`` rejects."""
    nulls = values == None  # noqa: E711 - elementwise; NaN is not null here (check_value rejects it)
    kind = infer_dtype(values, skipna=True)
    if kind not in ("integer" if column.is_integer else "string", "empty"):
        return {i: p for i, v in enumerate(values) if (p := schema.check_value(column, v))}
    problems: dict[int, str] = {}
    if nulls.any() and not column.nullable:
        reason = schema.check_value(column, None)
        problems.update(dict.fromkeys(np.flatnonzero(nulls).tolist(), reason or ""))
    present = np.flatnonzero(~nulls)
    if not len(present):
        return problems
    cells = values[present]
    if column.is_integer:
        try:
            numbers = cells.astype(np.int64)
        except (OverflowError, ValueError, TypeError):  # NaN or an integer beyond int64
            return {i: p for i, v in enumerate(values) if (p := schema.check_value(column, v))}
        suspect = np.zeros(len(cells), dtype=bool)
        if column.minimum is not None:
            suspect |= numbers < column.minimum
        if column.maximum is not None:
            suspect |= numbers > column.maximum
        if column.kind is schema.Kind.CODE:
            suspect |= ~np.isin(numbers, np.fromiter(schema.allowed_codes(column.name), dtype=np.int64))
        for position in np.flatnonzero(suspect).tolist():
            reason = schema.check_value(column, cells[position])
            if reason:
                problems[int(present[position])] = reason
        return problems
    reasons = {u: r for u in pd.unique(cells) if (r := schema.check_value(column, u))}
    if reasons:
        for position in np.flatnonzero(pd.Series(cells, dtype=object).isin(list(reasons))).tolist():
            problems[int(present[position])] = reasons[cells[position]]
    return problems


def validate_records(records: Sequence[Mapping[str, Any]]) -> Validation:
    """Split ``records`` into valid rows (a typed frame) and invalid rows with their reasons."""
    count = len(records)
    problems: dict[int, list[str]] = defaultdict(list)
    absent: dict[int, set[str]] = {}
    getter = operator.itemgetter(*schema.COLUMN_NAMES)
    try:
        tuples = list(map(getter, records))
    except (KeyError, TypeError):  # some row lacks a column or is not an object: the careful path
        blank = dict.fromkeys(schema.COLUMN_NAMES)
        tuples = []
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                problems[index].append("row is not a JSON object")
                absent[index] = set(RAW_COLUMN_NAMES)
                record = blank
            elif not record.keys() >= RAW_COLUMN_NAMES:
                absent[index] = set(RAW_COLUMN_NAMES - record.keys())
                record = {**blank, **record}
            tuples.append(getter(record))
    table = np.empty((count, len(schema.COLUMNS)), dtype=object)
    if count:
        table[:] = tuples
    columns: dict[str, np.ndarray] = {}
    for position, column in enumerate(schema.COLUMNS):
        values = table[:, position]
        columns[column.name] = values
        for index, reason in _column_problems(column, values).items():
            missing = absent.get(index)
            if missing is not None and column.name in missing:
                if isinstance(records[index], Mapping):
                    problems[index].append(f"{column.name} is missing")
            else:
                problems[index].append(reason)
    valid = np.ones(count, dtype=bool)
    valid[list(problems)] = False
    frame = pd.DataFrame(
        {
            c.name: (
                columns[c.name][valid].astype(np.int64)
                if c.is_integer
                else pd.Series(columns[c.name][valid], dtype=object)
            )
            for c in schema.COLUMNS
        }
    )
    invalid = [(records[i], problems[i]) for i in sorted(problems)]
    return Validation(frame, invalid)


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


def ingest_records(
    engine: sa.Engine, records: Sequence[Mapping[str, Any]], batch_number: int, *, source: str = "direct"
) -> IngestResult:
    """Validate and write one batch in a single transaction; safe to repeat."""
    started = time.perf_counter()
    started_at = _now()
    validation = validate_records(records)
    # Key order makes the primary-key inserts sequential (the source sends a shuffled order).
    frame = validation.valid.sort_values("encounter_id", kind="stable", ignore_index=True)
    frame["batch_number"] = batch_number
    frame["ingested_at"] = started_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    quarantine_rows = _quarantine_rows(validation.invalid, batch_number, started_at)
    with engine.begin() as conn:
        inserted = storage.bulk_insert_frame(conn, storage.diabetes_raw, frame)
        storage.insert_ignore(conn, storage.quarantine, quarantine_rows)
        result = IngestResult(
            batch_number=batch_number,
            received=len(records),
            inserted=inserted,
            duplicates=len(frame) - inserted,
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
    seconds = time.perf_counter() - started
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


def ingest_next(engine: sa.Engine, client: DataSourceClient) -> IngestResult | None:
    """Ingest the lowest batch not ingested yet among those the cycle has reached; None if none."""
    available = available_batches(client.batches())
    done = ingested_batches(engine)
    pending = [n for n in range(1, available + 1) if n not in done]
    if not pending:
        logger.info("no batch to ingest: batches 1-%d are already ingested", available)
        return None
    return ingest_batch(engine, client, pending[0])


def ingest_all(engine: sa.Engine, client: DataSourceClient, *, again: bool = False) -> list[IngestResult]:
    """Ingest every batch the source has (1..total, a backfill) not ingested yet; all with ``again``."""
    total = client.total_batches()
    done = set() if again else ingested_batches(engine)
    return [ingest_batch(engine, client, n) for n in range(1, total + 1) if n not in done]
