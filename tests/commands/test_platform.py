"""`readmission run --exit` end to end on embedded defaults: services up, a champion, served, then all stopped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

VENV_BIN = Path(sys.executable).parent


def test_run_brings_everything_up_and_down(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PIPELINE_", "MLFLOW_"))},
        "LOCAL_DIR": str(tmp_path / "var"),
        "BATCH_SIZE": "5000",  # one small batch keeps the first model quick; `make run` ingests all
        "TRAIN_MAX_CONFIGURATIONS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for name in ("DATA_API_URL", "RAW_DATABASE_URL", "CLEAN_DATABASE_URL", "DATASET_URI", "API_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [str(VENV_BIN / "readmission"), "run", "--exit", "--batches", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "The platform is up:" in output
    assert re.search(r"MLflow UI\s+http://127\.0\.0\.1:\d+", output)
    assert re.search(r"Pushgateway metrics\s+http://127\.0\.0\.1:\d+/metrics", output)
    assert re.search(r"champion model: \S+ version 1", output)
    if "inference API docs" in output:
        assert re.search(r"inference API docs\s+http://127\.0\.0\.1:\d+/docs", output)
    assert "stopping data_api" in output
    logs = tmp_path / "var" / "logs"
    assert (logs / "pipeline.log").exists()
    # Every child was stopped with its process group: nothing of ours still runs.
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False)
    assert leftovers.stdout.strip() == ""
