"""The fault suite (``make test-faults``): every test injects a real fault into a real service."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def genuine_records(genuine_raw) -> list[dict]:
    """Every UCI row as the data API serves it."""
    from readmission.data_api.loading import to_records

    return to_records(genuine_raw)
