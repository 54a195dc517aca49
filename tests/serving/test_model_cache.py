"""The API's model cache: keyed by the run that logged the model, and cleaned of a crash's leftovers."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from readmission.serving import create_app

pytestmark = pytest.mark.integration


def _wait_for_mlflow_source(app, timeout: float = 60) -> None:
    manager = app.state.manager
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (manager.current is None or manager.current.source != "mlflow"):
        time.sleep(0.1)


def test_the_cache_is_keyed_by_run_id_and_leftovers_are_removed_at_start(settings, serving_champion):
    app = create_app(settings)
    with TestClient(app):
        assert app.state.manager.wait_until_loaded(60)
        run_id = app.state.manager.current.run_id
    cache = app.state.manager.cache_dir
    assert run_id
    assert sorted(p.name for p in cache.iterdir()) == ["current.json", f"run-{run_id}"]

    # A registry rebuilt from scratch gives version 1 to another run: the cached copy (same number,
    # other run) must not pass for the registry's model. And a crash left half-done downloads behind.
    pointer = json.loads((cache / "current.json").read_text())
    (cache / "current.json").write_text(json.dumps({**pointer, "run_id": "a-run-of-the-old-registry"}))
    (cache / ".v1-crashed").mkdir()
    (cache / ".v1-crashed" / "model.skops").write_bytes(b"half")
    (cache / ".copy-run-x-crashed").mkdir()
    (cache / ".current.json.tmp").write_text("{")
    app = create_app(settings)
    with TestClient(app):
        _wait_for_mlflow_source(app)
        current = app.state.manager.current
        assert (current.source, current.run_id, current.version) == ("mlflow", run_id, serving_champion.version)
    assert sorted(p.name for p in cache.iterdir()) == ["current.json", f"run-{run_id}"]
    assert json.loads((cache / "current.json").read_text())["run_id"] == run_id
