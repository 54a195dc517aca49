"""`readmission ingest` / `readmission prepare`: exit codes, one-sentence errors, and the full genuine set."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from readmission import features, split, storage
from readmission.cli import app
from readmission.config import get_settings
from tests.support import services


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Point the settings at test databases/servers; returns a setter."""

    def set_env(**values: str) -> None:
        monkeypatch.setenv("LOCAL_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("HTTP_RETRIES", "1")
        monkeypatch.setenv("HTTP_TIMEOUT_SECONDS", "60")
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()

    yield set_env
    get_settings.cache_clear()


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.integration
def test_ingest_needs_exactly_one_mode(env, tmp_path):
    env(RAW_DATABASE_URL=f"sqlite:///{tmp_path / 'raw.sqlite'}")
    code, _, err = _run("ingest")
    assert code == 2
    assert "exactly one of --batch N, --next or --all" in err


@pytest.mark.integration
def test_ingest_from_a_source_that_is_down_exits_3_and_writes_nothing(env, tmp_path):
    raw_url = f"sqlite:///{tmp_path / 'raw.sqlite'}"
    env(RAW_DATABASE_URL=raw_url, DATA_API_URL=f"http://127.0.0.1:{services.free_port()}")
    code, out, err = _run("ingest", "--next")
    assert code == 3
    last = err.strip().splitlines()[-1]  # retry warnings are logged above it
    assert last.startswith("error: data API at http://127.0.0.1:")
    assert last.endswith(
        "is unavailable after 2 attempt(s): ConnectError: [Errno 111] Connection refused; nothing was written"
    )
    assert not out
    assert storage.count_rows(storage.raw_engine(raw_url), storage.diabetes_raw) == 0


@pytest.mark.integration
def test_a_batch_that_does_not_exist_exits_4(env, tmp_path, data_api):
    env(RAW_DATABASE_URL=f"sqlite:///{tmp_path / 'raw.sqlite'}", DATA_API_URL=data_api.url)
    code, _, err = _run("ingest", "--batch", "99")
    assert code == 4
    assert "answered 404" in err
    assert "numbered 1 to 7" in err


@pytest.mark.integration
def test_prepare_without_raw_data_exits_5(env, tmp_path):
    env(
        RAW_DATABASE_URL=f"sqlite:///{tmp_path / 'raw.sqlite'}", CLEAN_DATABASE_URL=f"sqlite:///{tmp_path / 'c.sqlite'}"
    )
    code, _, err = _run("prepare")
    assert code == 5
    assert "readmission ingest" in err


@pytest.mark.data
@pytest.mark.integration
def test_the_full_genuine_set_through_the_real_path(env, mariadb, data_api, tmp_path):
    """ingest --all (twice) from the data API into MariaDB, then prepare: the documented counts."""
    raw_url, clean_url = mariadb.fresh_database("raw"), mariadb.fresh_database("clean")
    env(RAW_DATABASE_URL=raw_url, CLEAN_DATABASE_URL=clean_url, DATA_API_URL=data_api.url,
        DATASET_URI=str(tmp_path / "datasets"), READMISSION_TARGET="any")  # fmt: skip

    code, out, err = _run("ingest", "--all")
    assert code == 0, err
    first = json.loads(out)
    assert (len(first["batches"]), first["inserted"], first["quarantined"]) == (7, 101_766, 0)
    code, out, _ = _run("ingest", "--all")  # every batch is in: nothing to do
    assert code == 0
    assert json.loads(out)["batches"] == []
    code, out, _ = _run("ingest", "--batch", "3")  # re-sent: all duplicates
    again = json.loads(out)
    assert (again["inserted"], again["duplicates"]) == (0, 15_000)

    code, out, err = _run("prepare")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["raw"], summary["excluded"], summary["clean"], summary["quarantined"]) == (
        101_766, 2_423, 99_343, 0
    )  # fmt: skip
    assert sum(summary["splits"].values()) == 99_343

    clean_engine = storage.clean_engine(clean_url)
    tables = {
        name: storage.read_table(clean_engine, storage.clean_table(t)) for name, t in storage.SPLIT_TABLES.items()
    }
    patients = {name: set(frame["patient_nbr"]) for name, frame in tables.items()}
    assert sum(map(len, patients.values())) == len(set().union(*patients.values()))  # no patient in two splits
    assert abs(len(tables["train"]) / 99_343 - 0.70) < 0.02

    raw = storage.read_table(storage.raw_engine(raw_url), storage.diabetes_raw)
    assert raw["patient_nbr"].nunique() == 71_518
    for target in ("any", "within_30_days"):
        clean = features.clean(raw, target).frame
        overall = clean["label"].mean()
        for name, part in split.split(clean).items():
            assert abs(part["label"].mean() - overall) < 0.01, (target, name)
