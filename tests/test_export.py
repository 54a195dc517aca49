"""Files written by export and staging: concurrent writers and crashes never leave a half-written file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from readmission import export, pipeline
from readmission.config import Settings

pytestmark = pytest.mark.integration


def test_concurrent_writers_of_one_file_never_mix_their_bytes(tmp_path):
    target = tmp_path / "exports" / "manifest.json"
    payloads = [bytes([65 + i]) * 3_000_000 for i in range(6)]  # 3 MB each: a write takes a while
    errors: list[BaseException] = []
    start = threading.Barrier(len(payloads))

    def writer(data: bytes) -> None:
        start.wait()
        try:
            for _ in range(4):
                export.Location(str(tmp_path)).put(str(target), data, "application/json")
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_bytes() in payloads  # one writer's whole file, never a mix or a truncation
    assert [p.name for p in target.parent.iterdir()] == ["manifest.json"]  # no temporary file left


def test_a_crash_before_the_rename_leaves_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "data.parquet"
    export.write_atomically(target, b"old")

    def crash(*_args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        export.write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.parquet"]


def test_staged_files_carry_the_run_id(tmp_path, data_api, mariadb):
    settings = Settings(local_dir=tmp_path, data_api_url=data_api.url, raw_database_url=mariadb.fresh_database("stage"))
    first = pipeline.fetch_batch(1, run_id="manual__2026-01-01T00:00:00+00:00", settings=settings)
    second = pipeline.fetch_batch(1, run_id="scheduled__2026-01-01T00:05:00+00:00", settings=settings)
    assert first["batches"] == second["batches"] == [1]  # both runs plan batch 1: they must not share a file
    assert first["staged"] != second["staged"]
    assert "manual__2026-01-01T00_00_00_00_00" in first["staged"][0]
    assert "scheduled__2026-01-01T00_05_00_00_00" in second["staged"][0]
    without_id = pipeline.fetch_batch(1, settings=settings)["staged"][0]
    assert "manual-" in without_id
    assert len({first["staged"][0], second["staged"][0], without_id}) == 3
    assert all(Path(uri).exists() for uri in (*first["staged"], *second["staged"], without_id))
