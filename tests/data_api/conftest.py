"""Fixtures of the data API tests: the full data set is fetched once per session."""

from __future__ import annotations

import csv
import gzip

import httpx
import pytest

from readmission.config import DATA_CSV
from tests.support import services
from tests.support.data_api import Served, strict_loads


@pytest.fixture(scope="session")
def served(data_api: services.DataApi) -> Served:
    """Every batch of the session server, raw and parsed (strictly)."""
    # identity: compare the pre-serialised bytes themselves (gzip is tested on its own)
    with httpx.Client(base_url=data_api.url, timeout=60, headers={"Accept-Encoding": "identity"}) as client:
        metadata = client.get("/batches").raise_for_status().json()
        bodies = {
            number: client.get("/get_data", params={"batch": number}).raise_for_status().content
            for number in range(1, metadata["total_batches"] + 1)
        }
    return Served(metadata, bodies, {number: strict_loads(body) for number, body in bodies.items()})


@pytest.fixture(scope="session")
def csv_columns() -> dict[str, list[str]]:
    """The genuine CSV as raw strings by column, the reference the served values are checked against."""
    with gzip.open(DATA_CSV, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return dict(zip(header, (list(values) for values in zip(*reader, strict=True)), strict=True))
