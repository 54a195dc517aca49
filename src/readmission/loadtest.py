"""Step-load capacity test: Locust (a subprocess, headless) raises users until the SLO breaks.

``run_step_load`` runs ``locust/locustfile.py`` with the step shape of ``locust/stepload.py``
and writes, under one folder, Locust's HTML report, its CSV files (with the full history),
``capacity.json`` (every step and the last one that held the SLO) and ``loadtest.png`` (users,
requests/s and p95 over time). ``constant_load`` runs a fixed number of users for a fixed time in
the background while the caller acts (the hot-swap test moves the champion). Locust is never
imported here: gevent must patch the process before ssl and friends are loaded, so it always
runs in its own process.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from readmission.config import REPO_ROOT

logger = logging.getLogger(__name__)

LOCUST_DIR = REPO_ROOT / "locust"
PREFIX = "loadtest"


class LoadTestError(RuntimeError):
    """Locust did not run to the end (bad options, unreachable host, crash)."""


@dataclass(frozen=True)
class StepLoad:
    """The step-load plan and the SLO it is judged against."""

    step_users: int = 100
    step_seconds: float = 20.0
    max_users: int = 5000
    slo_p95_ms: float = 100.0
    user_classes: tuple[str, ...] = ("Clinician",)

    def env(self, capacity_file: Path) -> dict[str, str]:
        return {
            "LOCUST_STEP_USERS": str(self.step_users),
            "LOCUST_STEP_SECONDS": str(self.step_seconds),
            "LOCUST_MAX_USERS": str(self.max_users),
            "LOCUST_SLO_P95_MS": str(self.slo_p95_ms),
            "LOCUST_CAPACITY_FILE": str(capacity_file),
        }

    @property
    def longest_seconds(self) -> float:
        return (self.max_users / self.step_users + 1) * self.step_seconds


@dataclass(frozen=True)
class LoadTestResult:
    out_dir: Path
    report: dict[str, Any]

    @property
    def capacity(self) -> dict[str, Any] | None:
        capacity: dict[str, Any] | None = self.report.get("capacity")
        return capacity

    @property
    def html(self) -> Path:
        return self.out_dir / f"{PREFIX}.html"

    @property
    def plot(self) -> Path:
        return self.out_dir / f"{PREFIX}.png"

    @property
    def history_csv(self) -> Path:
        return self.out_dir / f"{PREFIX}_stats_history.csv"

    def summary(self) -> str:
        slo = self.report["slo"]
        capacity = self.capacity
        held = (
            f"{capacity['users']} users, {capacity['rps']:.0f} req/s, p95 {capacity['p95_ms']:.0f} ms"
            if capacity
            else "no step held the SLO"
        )
        return f"capacity at the SLO (p95 < {slo['p95_ms']:.0f} ms, 0 failures): {held}; {self.report['reason']}"


def locust_command(host: str, plan: StepLoad, out_dir: Path, *, cpu: int | None = None) -> list[str]:
    """The headless Locust command line (pinned to ``cpu`` with taskset when asked)."""
    locust = Path(sys.executable).with_name("locust")
    cmd = [
        str(locust) if locust.exists() else "locust",
        "-f", f"{LOCUST_DIR / 'locustfile.py'},{LOCUST_DIR / 'stepload.py'}",
        "--headless", "--host", host,
        "--csv", str(out_dir / PREFIX), "--csv-full-history", "--html", str(out_dir / f"{PREFIX}.html"),
        "--only-summary", "--loglevel", "INFO", "--exit-code-on-error", "0",
        *plan.user_classes,
    ]  # fmt: skip
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd


def run_step_load(host: str, out_dir: Path, plan: StepLoad | None = None, *, cpu: int | None = None) -> LoadTestResult:
    """Run the step load against ``host`` and return the capacity report; writes the files to ``out_dir``."""
    plan = plan or StepLoad()
    out_dir.mkdir(parents=True, exist_ok=True)
    capacity_file = out_dir / "capacity.json"
    capacity_file.unlink(missing_ok=True)
    env = {**os.environ, **plan.env(capacity_file), "PYTHONPATH": _pythonpath()}
    env.pop("LOCUST_TARGET", None)  # the Throughput driver stays out of the mix
    log_path = out_dir / "locust.log"
    logger.info(
        "step load on %s: +%d users every %.0f s, results in %s", host, plan.step_users, plan.step_seconds, out_dir
    )
    with log_path.open("wb") as log:
        finished = subprocess.run(
            locust_command(host, plan, out_dir, cpu=cpu),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=plan.longest_seconds + 120,
        )
    if finished.returncode != 0 or not capacity_file.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        raise LoadTestError(f"locust exited with code {finished.returncode} without a capacity report:\n{tail}")
    result = LoadTestResult(out_dir, json.loads(capacity_file.read_text()))
    plot_history(result.history_csv, result.plot, slo_p95_ms=plan.slo_p95_ms)
    return result


@dataclass(frozen=True)
class ConstantLoad:
    """``users`` Locust users of ``user_class`` for ``seconds``, all started at once (no step shape)."""

    users: int = 4
    seconds: int = 20
    user_class: str = "Throughput"
    target: str = "api"
    """``LOCUST_TARGET`` of the ``Throughput`` user: ``api``, ``explain``, ``mlflow`` or ``noop``."""
    by_model_version: bool = False
    """Name each answered request after the model version that answered it (``/predict [model 3]``)."""

    def command(self, host: str, out_dir: Path) -> list[str]:
        locust = Path(sys.executable).with_name("locust")
        return [
            str(locust) if locust.exists() else "locust",
            "-f", str(LOCUST_DIR / "locustfile.py"), "--headless", "--host", host,
            "-u", str(self.users), "-r", str(self.users), "--run-time", f"{self.seconds}s",
            "--csv", str(out_dir / PREFIX), "--csv-full-history", "--only-summary", "--loglevel", "INFO",
            "--exit-code-on-error", "0", self.user_class,
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LOCUST_TARGET": self.target,
            "LOCUST_BY_MODEL_VERSION": "1" if self.by_model_version else "0",
            "PYTHONPATH": _pythonpath(),
        }


@contextmanager
def constant_load(host: str, out_dir: Path, plan: ConstantLoad | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run Locust against ``host`` in the background while the ``with`` body runs; at exit wait for it to end
    (its CSV files are then in ``out_dir``: :func:`read_stats`, :func:`read_history`). The body may stop it
    early with SIGTERM (Locust then writes its statistics and exits 0). Raises :class:`LoadTestError` when
    Locust failed or wrote no statistics."""
    plan = plan or ConstantLoad()
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "locust.log"
    logger.info("%d %s users on %s for %d s, results in %s", plan.users, plan.user_class, host, plan.seconds, out_dir)
    with log_path.open("wb") as log:
        process = subprocess.Popen(plan.command(host, out_dir), env=plan.env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
            code = process.wait(timeout=plan.seconds + 120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    stats = out_dir / f"{PREFIX}_stats.csv"
    if code != 0 or not stats.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        raise LoadTestError(f"locust exited with code {code} without statistics:\n{tail}")


def read_stats(out_dir: Path) -> dict[str, dict[str, str]]:
    """Locust's final statistics (``loadtest_stats.csv``) by request name (``Aggregated`` included)."""
    with (out_dir / f"{PREFIX}_stats.csv").open() as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def read_history(out_dir: Path) -> list[dict[str, str]]:
    """Every row of ``loadtest_stats_history.csv`` (one per second and request name, counts cumulative)."""
    with (out_dir / f"{PREFIX}_stats_history.csv").open() as handle:
        return list(csv.DictReader(handle))


def _pythonpath() -> str:
    src = str(REPO_ROOT / "src")
    current = os.environ.get("PYTHONPATH")
    return f"{src}{os.pathsep}{current}" if current else src


def plot_history(history_csv: Path, png: Path, *, slo_p95_ms: float) -> Path:
    """Users, requests/s and p95 over time from Locust's ``_stats_history.csv`` (the Aggregated rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    history = pd.read_csv(history_csv)
    history = history[history["Name"] == "Aggregated"].copy()
    seconds = history["Timestamp"] - history["Timestamp"].min()
    p95 = pd.to_numeric(history["95%"], errors="coerce")
    figure, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    axes[0].plot(seconds, history["User Count"], color="tab:blue")
    axes[0].set_ylabel("users")
    axes[1].plot(seconds, history["Requests/s"], color="tab:green")
    axes[1].set_ylabel("requests/s")
    axes[2].plot(seconds, p95, color="tab:red", label="p95 (10 s window)")
    axes[2].axhline(slo_p95_ms, color="black", linestyle="--", label=f"SLO {slo_p95_ms:.0f} ms")
    axes[2].set_ylabel("p95 ms")
    axes[2].set_xlabel("seconds")
    axes[2].legend(loc="upper left")
    figure.suptitle("Step load: users, throughput and p95 latency")
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)
    return png
