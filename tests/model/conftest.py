"""Small genuine splits shared by the model tests."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from readmission import schema
from tests.model.splits import grouped_splits


@pytest.fixture(scope="session")
def small_splits(genuine_raw) -> dict[str, pd.DataFrame]:
    """3,000 training rows (1,500 validation, 1,500 test), patient-grouped."""
    return grouped_splits(genuine_raw, train_rows=3000)


def api_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as the data API serves them: JSON-like dicts, ints for ids/codes/counts, None for missing."""
    out = []
    for row in frame[list(schema.INPUT_COLUMNS)].to_dict("records"):
        out.append(
            {
                key: None
                if value is None or (isinstance(value, float) and math.isnan(value))
                else (int(value) if schema.BY_NAME[key].is_integer else value)
                for key, value in row.items()
            }
        )
    return out
