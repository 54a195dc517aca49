"""Small genuine splits shared by the model tests."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.support.splits import grouped_splits


@pytest.fixture(scope="session")
def small_splits(genuine_raw) -> dict[str, pd.DataFrame]:
    """3,000 training rows (1,500 validation, 1,500 test), patient-grouped."""
    return grouped_splits(genuine_raw, train_rows=3000)
