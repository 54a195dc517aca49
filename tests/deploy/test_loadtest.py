"""`readmission loadtest`: Locust (a subprocess) steps users up against the real API serving the real champion."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from readmission.cli import app
from tests.support import services

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(champion_model, service_dir: Path) -> Iterator[str]:
    tracking_uri, model_name, _ = champion_model
    with services.api_server(tracking_uri, model_name, service_dir) as url:
        yield url


def _stats(out: Path) -> dict[str, dict[str, str]]:
    with (out / "loadtest_stats.csv").open() as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def test_clinicians_step_up_and_the_capacity_is_the_last_step_that_held(api: str, tmp_path: Path) -> None:
    out = tmp_path / "clinicians"
    result = CliRunner().invoke(
        app,
        ["loadtest", "--host", api, "--step-users", "4", "--step-seconds", "6", "--max-users", "8",
         "--slo-p95-ms", "5000", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "capacity.json").read_text())
    assert [step["users"] for step in report["steps"]] == [4, 8]
    assert all(step["held"] and step["failures"] == 0 for step in report["steps"])
    assert report["capacity"] == report["steps"][-1]
    assert "LOCUST_MAX_USERS=8" in report["reason"]
    assert "8 users" in result.output
    # The clinician scenario: genuine records scored, health and model info asked, nothing failed.
    stats = _stats(out)
    assert {"/predict", "/health", "/model-info"} <= stats.keys()
    assert stats["Aggregated"]["Failure Count"] == "0"
    assert int(stats["/predict"]["Request Count"]) > 0
    assert (out / "loadtest.html").read_text().lstrip().lower().startswith("<!doctype html")
    assert (out / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "loadtest_stats_history.csv").open() as handle:
        assert any(row["Name"] == "Aggregated" and row["User Count"] == "8" for row in csv.DictReader(handle))


def test_a_step_over_the_slo_stops_the_run_and_no_capacity_is_claimed(api: str, tmp_path: Path) -> None:
    out = tmp_path / "services"
    result = CliRunner().invoke(
        app,
        ["loadtest", "--host", api, "--user-class", "Service", "--step-users", "2", "--step-seconds", "9",
         "--max-users", "20", "--slo-p95-ms", "1", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "capacity.json").read_text())
    assert report["capacity"] is None
    assert [step["users"] for step in report["steps"]] == [2]
    assert report["broken_at"]["p95_ms"] >= 1
    assert "SLO broken at 2 users" in report["reason"]
    assert "/predict/batch" in _stats(out)
    assert "no step held the SLO" in result.output


def test_an_unreachable_api_is_exit_code_3_with_a_sentence(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{services.free_port()}"
    result = CliRunner().invoke(app, ["loadtest", "--host", url, "--out", str(tmp_path)])
    assert result.exit_code == 3
    assert "does not answer /health" in result.output
