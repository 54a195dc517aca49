"""Fixtures of the data layer tests: the same tests run on SQLite and on a real MariaDB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from readmission import storage
from readmission.config import DATA_CSV


@dataclass(frozen=True)
class Databases:
    backend: str
    raw_url: str
    clean_url: str

    @property
    def raw(self) -> sa.Engine:
        return storage.raw_engine(self.raw_url)

    @property
    def clean(self) -> sa.Engine:
        return storage.clean_engine(self.clean_url)


@pytest.fixture(params=["sqlite", "mariadb"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    """Fresh, empty raw and clean databases on each backend."""
    if request.param == "sqlite":
        return Databases("sqlite", f"sqlite:///{tmp_path / 'raw.sqlite'}", f"sqlite:///{tmp_path / 'clean.sqlite'}")
    mariadb = request.getfixturevalue("mariadb")
    return Databases("mariadb", mariadb.fresh_database("raw"), mariadb.fresh_database("clean"))


@pytest.fixture(scope="session")
def genuine_records() -> list[dict]:
    """Every UCI row as the data API serves it (JSON-ready dicts, None for `?`)."""
    from readmission.data_api.loading import load_records

    return load_records(DATA_CSV)


@pytest.fixture
def sample(genuine_records: list[dict]) -> list[dict]:
    """3,000 genuine rows (copies), enough to hit every exclusion code and many repeat patients."""
    return [dict(r) for r in genuine_records[:3000]]
