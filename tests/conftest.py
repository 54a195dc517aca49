"""Session-wide real services; tests that need one ask for its fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The API sets it to false (it reads models with readmission.model_loader only); tests compare
# against MLflow's own loaders on models they logged themselves.
os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")

from readmission import storage
from readmission.config import DATA_CSV
from tests.support import services
from tests.support.airflow import Stack, dag_stack

SLOW_MARKERS = frozenset({"integration", "e2e", "dags", "data", "model", "containers", "faults"})
SERVICE_FIXTURES = frozenset({"service_dir", "mariadb", "s3", "mlflow_server", "data_api", "genuine_raw"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``services`` every test that needs a real service or the whole data set (`make test-fast` skips them)."""
    for item in items:
        markers = {marker.name for marker in item.iter_markers()}
        if markers & SLOW_MARKERS or SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def mariadb(service_dir: Path) -> Iterator[services.MariaDB]:
    """A private MariaDB server for the whole session (fresh_database() per test)."""
    base = services.temp_dir("readmission-mariadb-")
    try:
        with services.mariadb_server(base) as server:
            yield server
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(service_dir: Path) -> Iterator[services.S3Server]:
    with services.s3_server(service_dir) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server(
    mariadb: services.MariaDB, s3: services.S3Server, service_dir: Path
) -> Iterator[services.MlflowServer]:
    with services.mlflow_server(mariadb, s3, service_dir) as server:
        yield server


@pytest.fixture(scope="session")
def genuine_raw():
    """The whole UCI data set as the data API serves it (ints, strings, NaN for `?`)."""
    from readmission.config import DATA_CSV
    from readmission.data_api.loading import read_raw_csv

    return read_raw_csv(DATA_CSV)


@pytest.fixture(scope="session")
def data_api(service_dir: Path) -> Iterator[services.DataApi]:
    """The real data API (gunicorn) with the default batch size, for the whole session."""
    with services.data_api_server(service_dir) as server:
        yield server


@pytest.fixture(scope="session")
def champion_model(mlflow_server: services.MlflowServer, genuine_raw, tmp_path_factory: pytest.TempPathFactory):
    """A small real model (logistic candidate, 3,000 training rows) registered as ``champion``.

    Trained, logged and promoted by the real package code on the session's
    ``mlflow_server``. Returns ``(tracking_uri, model_name, version)``; load it
    with ``mlflow.sklearn.load_model(f"models:/{model_name}@champion")`` after
    ``mlflow.set_tracking_uri(tracking_uri)``.
    """
    from readmission import modeling, pipeline, registry
    from readmission.config import Settings
    from tests.support.splits import grouped_splits

    settings = Settings(
        local_dir=tmp_path_factory.mktemp("champion-model"),
        mlflow_tracking_uri=mlflow_server.tracking_uri,
        mlflow_experiment_name="fixture-champion",
        model_name="readmission-fixture-champion",
    )
    splits = grouped_splits(genuine_raw, train_rows=3000)
    result = pipeline.train_run(
        splits["train"], splits["validation"], splits["test"], settings=settings, families=(modeling.LOGISTIC,)
    )
    assert result.version is not None
    registry.promote_if_better(result.version, splits["validation"], settings=settings)
    return mlflow_server.tracking_uri, settings.model_name, result.version


@pytest.fixture(scope="module")
def stack(
    mariadb: services.MariaDB, s3: services.S3Server, mlflow_server: services.MlflowServer, tmp_path_factory
) -> Iterator[Stack]:
    """The real services a ``dag.test()`` run needs (one per test module: DAG runs change their state)."""
    with dag_stack(mariadb, s3, mlflow_server, tmp_path_factory.mktemp("dag-e2e")) as dags:
        yield dags


# --------------------------------------------------------------------------- databases and genuine rows


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


@pytest.fixture(scope="session")
def small_splits(genuine_raw):
    """3,000 training rows (1,500 validation, 1,500 test), patient-grouped."""
    from tests.support.splits import grouped_splits

    return grouped_splits(genuine_raw, train_rows=3000)
