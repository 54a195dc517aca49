"""Read the UCI CSV into JSON-ready records, exactly as the schema describes them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from readmission import schema
from readmission.data_api.errors import DataFileError

logger = logging.getLogger(__name__)

Record = dict[str, Any]


def read_raw_csv(path: Path) -> pd.DataFrame:
    """The CSV with ids/codes/counts as int64 and every other column as Python strings.

    ``?`` is the only missing marker: the string ``None`` (a real level of
    ``max_glu_serum`` and ``A1Cresult``) is kept, and diagnosis codes such as
    ``250.83`` stay strings.
    """
    if not path.is_file():
        raise DataFileError(f"data file {path} not found (set DATA_CSV_PATH)")
    dtypes = {column.name: ("int64" if column.is_integer else object) for column in schema.COLUMNS}
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[schema.MISSING_MARKER], dtype=dtypes)
    except (ValueError, OSError) as error:
        raise DataFileError(f"cannot read {path}: {error}") from error
    if tuple(frame.columns) != schema.COLUMN_NAMES:
        raise DataFileError(f"{path} does not have the 50 UCI columns in order: got {list(frame.columns)}")
    duplicates = int(frame["encounter_id"].duplicated().sum())
    if duplicates:
        raise DataFileError(f"{path} has {duplicates} duplicated encounter_id values")
    logger.info("read %d rows from %s", len(frame), path)
    return frame


def to_records(frame: pd.DataFrame) -> list[Record]:
    """One dict per row, keys in schema order; missing values are ``None`` (JSON null)."""
    columns: list[list[Any]] = []
    for column in schema.COLUMNS:
        series = frame[column.name]
        if column.is_integer:
            columns.append(series.tolist())
        else:
            as_object = series.astype(object)
            columns.append(as_object.where(as_object.notna(), None).tolist())
    names = schema.COLUMN_NAMES
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def load_records(path: Path) -> list[Record]:
    return to_records(read_raw_csv(path))
