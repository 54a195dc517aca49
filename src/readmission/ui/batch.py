"""Batch scoring of a CSV of raw UCI records through ``/predict/batch``, chunk by chunk.

The CSV is read as text (``?`` or empty = missing) and each row becomes the record
the data API would serve: integers where the schema says so, strings otherwise.
A value that is not what the schema expects is sent as written, so the API rejects
that row with its reason while the others are scored.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from readmission import schema
from readmission.ui.client import ApiClient, ApiError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in schema.COLUMNS if c.kind not in (schema.Kind.IDENTIFIER, schema.Kind.TARGET) and not c.nullable
)
"""Columns a CSV must have (nullable columns and ids may be absent)."""

RESULT_COLUMNS: tuple[str, ...] = ("row", "readmission_risk", "prediction", "risk_band", "risk_30d", "risk_band_30d")
"""``readmission_risk``/``prediction``/``risk_band``: readmission at any time; ``*_30d``: within 30 days."""


class CsvError(ValueError):
    """The upload is not a CSV of raw records."""


class MissingColumnsError(CsvError):
    """The CSV lacks required columns (the message lists them)."""


def read_csv(data: bytes) -> pd.DataFrame:
    """The CSV as text cells (``None`` where missing); raises :class:`CsvError` when unusable."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[schema.MISSING_MARKER, ""])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise CsvError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise MissingColumnsError(", ".join(missing))
    return frame.astype(object).where(frame.notna(), None)


def _cell(column: schema.Column, value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if column.is_integer:
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return text  # let the API say why
            return int(number) if number.is_integer() else text
    return text


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Raw records of the CSV rows: the input columns present, typed as the data API serves them."""
    columns = [schema.BY_NAME[name] for name in schema.INPUT_COLUMNS if name in frame.columns]
    rows = frame[[c.name for c in columns]].itertuples(index=False, name=None)
    return [{c.name: _cell(c, v) for c, v in zip(columns, row, strict=True)} for row in rows]


@dataclass
class BatchOutcome:
    """Everything the page shows after (or during) a batch."""

    total: int
    results: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """(row number in the file, 1-based after the header; reason)."""
    meta: dict[str, Any] = field(default_factory=dict)
    done: int = 0
    failure: ApiError | None = None
    """Set when the API stopped answering: ``results`` hold the rows scored before."""

    def table(self, source: pd.DataFrame | None = None) -> pd.DataFrame:
        """Scored rows with their identifiers (when the CSV has them) and the risk."""
        table = pd.DataFrame(self.results, columns=list(RESULT_COLUMNS))
        if source is not None:
            ids = [c for c in schema.IDENTIFIER_COLUMNS if c in source.columns]
            if ids and len(table):
                picked = source.iloc[table["row"].to_numpy() - 1][ids].reset_index(drop=True)
                table = pd.concat([table[["row"]], picked, table.drop(columns="row")], axis=1)
        return table

    def csv(self, source: pd.DataFrame | None = None) -> bytes:
        return self.table(source).to_csv(index=False).encode()


def score(records: list[dict[str, Any]], client: ApiClient, chunk_size: int) -> Iterator[BatchOutcome]:
    """Score ``records`` in chunks, yielding the growing outcome after each chunk.

    An API failure stops the batch (``outcome.failure``) but keeps what was scored.
    """
    outcome = BatchOutcome(total=len(records))
    for start in range(0, len(records), chunk_size):
        chunk = records[start : start + chunk_size]
        try:
            answer = client.predict_batch(chunk)
        except ApiError as error:
            if error.kind == "rejected" and len(chunk) > 1:
                # The whole chunk was refused (e.g. too large): never drop rows silently.
                log.warning("chunk at row %d rejected as a whole: %s", start + 1, error.detail)
            outcome.failure = error
            yield outcome
            return
        outcome.meta = answer.meta
        for offset, prediction in enumerate(answer.predictions):
            row = start + offset + 1
            if offset in answer.errors or prediction is None:
                reasons = answer.errors.get(offset) or ["rejected"]
                outcome.rejected.append((row, "; ".join(reasons)))
            else:
                thirty = (prediction.get("outcomes") or {}).get("within_30_days") or {}
                outcome.results.append(
                    {
                        "row": row,
                        "readmission_risk": float(prediction["readmission_risk"]),
                        "prediction": int(prediction["prediction"]),
                        "risk_band": prediction.get("risk_band"),
                        "risk_30d": thirty.get("risk"),
                        "risk_band_30d": thirty.get("risk_band"),
                    }
                )
        outcome.done = min(start + chunk_size, len(records))
        yield outcome
