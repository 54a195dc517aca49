"""`readmission.bringup`, the parts of `readmission run` (the full bring-up is timed by hand: see the README)."""

from __future__ import annotations

import logging
import os
import sys
import time

import pytest

from readmission import bringup, supervisor
from readmission.config import Settings
from readmission.dagrun import PROGRESS_PREFIX

pytestmark = pytest.mark.unit


def test_explicit_urls_use_the_real_services(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:10")
    up = bringup.Platform(Settings(local_dir=tmp_path))
    assert up.start_data_api() is None
    assert up.start_mlflow() is None
    assert up.children == []
    assert up.urls == {"data API": "http://127.0.0.1:9", "MLflow UI": "http://127.0.0.1:10"}


def test_children_run_in_their_own_group_and_stop_with_it(tmp_path) -> None:
    up = bringup.Platform(Settings(local_dir=tmp_path))
    port = supervisor.free_port()
    # A parent that starts a grandchild: stopping the group must stop both.
    script = (
        "import subprocess, sys; "
        f"subprocess.Popen([sys.executable, '-m', 'http.server', '{port}', '--bind', '127.0.0.1']).wait()"
    )
    child = up.spawn("web", [sys.executable, "-c", script])
    up.wait_ready(child, supervisor.http_ready(f"http://127.0.0.1:{port}/"), timeout=30)
    assert os.getpgid(child.process.pid) == child.process.pid
    up.down()
    assert child.process.poll() is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not supervisor.port_is_free(port):
        time.sleep(0.1)
    assert supervisor.port_is_free(port)
    assert (tmp_path / "logs" / "web.log").exists()


def test_a_child_that_dies_early_is_reported_with_its_log(tmp_path) -> None:
    up = bringup.Platform(Settings(local_dir=tmp_path))
    child = up.spawn("broken", [sys.executable, "-c", "import sys; print('no config'); sys.exit(3)"])
    with pytest.raises(bringup.PlatformError, match=r"broken exited with code 3(.|\n)*no config"):
        up.wait_ready(child, lambda: False, timeout=30)
    up.down()


def test_the_report_lists_every_url_and_the_timings(tmp_path) -> None:
    up = bringup.Platform(Settings(local_dir=tmp_path))
    up.urls = {"MLflow UI": "http://127.0.0.1:5000", "inference API docs": "http://127.0.0.1:8000/docs"}
    up.champion = "3"
    up.timings = {"total": 200.0, "services": 30.0, "pipeline": 150.0}
    text = "\n".join(bringup.report(up))
    assert "http://127.0.0.1:5000" in text
    assert "http://127.0.0.1:8000/docs" in text
    assert "version 3" in text
    assert "bring-up: 200 s" in text


def test_the_run_logs_each_task_event_of_the_airflow_listener(caplog) -> None:
    caplog.set_level(logging.INFO, logger="readmission.bringup")
    bringup._progress(PROGRESS_PREFIX + '{"task": "fetch_batch", "state": "running", "try_number": 1}\n')
    bringup._progress(
        PROGRESS_PREFIX + '{"task": "fetch_batch", "state": "failed", "try_number": 3, "error": "source down"}\n'
    )
    bringup._progress("[DAG TEST] starting task_id=store_raw map_index=-1\n")  # Airflow's own log: not read
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "pipeline: fetch_batch"),
        (logging.WARNING, "pipeline: fetch_batch failed (try 3): source down"),
    ]
