"""`readmission run`: bring the whole platform up on one machine, and down again on Ctrl-C.

Order: the data API and an MLflow server (SQLite backend, local artifacts, one
worker, no job runner) start together while the Airflow metadata database is
migrated; then the pipeline DAG runs once with ``dag.test()`` in a subprocess
(``readmission.dagrun``), ingesting every batch the source serves, until the
registry has a ``champion``; then the inference API (``readmission serve``), the
clinician app (``readmission ui``) and, with ``AIRFLOW_UI=1``, ``airflow
standalone`` start. Each child runs in its own process group (``readmission.supervisor``)
with its log under ``LOCAL_DIR/logs`` and is stopped with that group.

Setting ``DATA_API_URL`` or ``MLFLOW_TRACKING_URI`` uses that service instead
of starting one; database and S3 variables pass through to every child.
A default port that is taken is replaced by a free one (and logged).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from readmission.config import REPO_ROOT, Settings
from readmission.dagrun import airflow_env, parse_progress, parse_summary
from readmission.supervisor import (
    VENV_BIN,
    ServiceError,
    choose_port,
    http_ready,
    mlflow_server_command,
    start_in_group,
    stop_process_group,
    tail,
    wait_until,
)

logger = logging.getLogger(__name__)


class PlatformError(ServiceError):
    """A service could not start, or the pipeline produced no champion."""


# --------------------------------------------------------------------------- children


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    log_file: IO[bytes] | None = field(default=None, repr=False)
    stop_timeout: float = 20.0

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return tail(self.log_path, chars)

    def stop(self, timeout: float | None = None) -> None:
        stop_process_group(self.process, self.stop_signal, self.stop_timeout if timeout is None else timeout)
        if self.log_file is not None:
            self.log_file.close()


@dataclass
class Platform:
    """The local platform: start it with :meth:`up`, stop it with :meth:`down` (idempotent)."""

    settings: Settings
    airflow_ui: bool = False
    batches: int | None = None
    children: list[Child] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    champion: str | None = None

    def __post_init__(self) -> None:
        self.local_dir = self.settings.local_dir.resolve()
        self.log_dir = self.local_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._ports: set[int] = set()
        explicit = self.settings.model_fields_set
        self.external_data_api = "data_api_url" in explicit
        self.external_mlflow = "mlflow_tracking_uri" in explicit
        self.env: dict[str, str] = {
            **os.environ,
            "LOCAL_DIR": str(self.local_dir),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        if "pipeline_retry_delay_seconds" not in explicit:
            self.env["PIPELINE_RETRY_DELAY_SECONDS"] = "5"
        if "train_candidates" not in explicit:
            # A quick first bring-up: the original GradientBoosting baseline alone takes 1-2 minutes on
            # 2 cores and never wins; `readmission train` and benchmarks/train.py still compare with it.
            self.env["TRAIN_CANDIDATES"] = "logistic,hist_gb"

    # ----------------------------------------------------------------- processes

    def spawn(self, name: str, cmd: list[str], *, env: dict[str, str] | None = None, stop_signal: int = 15) -> Child:
        log_path = self.log_dir / f"{name}.log"
        process, log_file = start_in_group(cmd, env={**self.env, **(env or {})}, log_path=log_path, cwd=REPO_ROOT)
        child = Child(name, process, log_path, stop_signal, log_file)
        self.children.append(child)
        logger.info("started %s (pid %d), log %s", name, process.pid, log_path)
        return child

    def wait_ready(self, child: Child, check: Callable[[], bool], timeout: float) -> None:
        try:
            wait_until(check, timeout=timeout, what=child.name, process=child.process, log_tail=child.log_tail)
        except ServiceError as error:
            raise PlatformError(f"{error}\n(log: {child.log_path})") from None

    def port(self, preferred: int, what: str) -> int:
        return choose_port(preferred, what, self._ports)

    # ----------------------------------------------------------------- services

    def start_data_api(self) -> tuple[Child, Callable[[], bool]] | None:
        if self.external_data_api:
            self.urls["data API"] = self.settings.data_api_url
            return None
        port = self.port(self.settings.data_api_port, "the data API")
        url = f"http://127.0.0.1:{port}"
        self.env.update({"DATA_API_URL": url, "DATA_API_PORT": str(port), "DATA_API_HOST": "127.0.0.1"})
        env = {}
        if "update_interval_seconds" not in self.settings.model_fields_set:
            env["UPDATE_INTERVAL_SECONDS"] = "1"  # every batch is available at once: one run ingests them all
        child = self.spawn("data_api", [str(VENV_BIN / "readmission"), "data-api"], env=env)
        self.urls["data API"] = url + "/batches"
        return child, http_ready(url + "/health")

    def start_mlflow(self) -> tuple[Child, Callable[[], bool]] | None:
        if self.external_mlflow:
            self.urls["MLflow UI"] = self.settings.mlflow_tracking_uri or ""
            return None
        port = self.port(self.settings.mlflow_port, "MLflow")
        url = f"http://127.0.0.1:{port}"
        store = self.local_dir / "mlflow"
        (store / "artifacts").mkdir(parents=True, exist_ok=True)
        cmd = mlflow_server_command(f"sqlite:///{store / 'mlflow.db'}", str(store / "artifacts"), port)
        child = self.spawn("mlflow", cmd, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        self.env["MLFLOW_TRACKING_URI"] = url
        self.urls["MLflow UI"] = url
        return child, http_ready(url + "/health")

    def start_pushgateway(self) -> tuple[Child, Callable[[], bool]] | None:
        """Debian's ``prometheus-pushgateway`` (in memory) for the pipeline's figures, when installed."""
        binary = shutil.which("prometheus-pushgateway")
        if "pushgateway_url" in self.settings.model_fields_set or binary is None:
            if binary is None:
                logger.info("prometheus-pushgateway is not installed: the pipeline's figures are not pushed")
            return None
        port = self.port(self.settings.pushgateway_port, "the Pushgateway")
        url = f"http://127.0.0.1:{port}"
        child = self.spawn("pushgateway", [binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="])
        self.env["PUSHGATEWAY_URL"] = url
        self.urls["Pushgateway metrics"] = url + "/metrics"
        return child, http_ready(url + "/-/ready")

    def start_api(self) -> None:
        port = self.port(self.settings.api_port, "the inference API")
        url = f"http://127.0.0.1:{port}"
        self.env.update({"API_URL": url, "API_PORT": str(port), "API_HOST": "127.0.0.1"})
        child = self.spawn("api", [str(VENV_BIN / "readmission"), "serve", "--host", "127.0.0.1", "--port", str(port)])
        ready = http_ready(url + "/ready", ok=lambda r: r.status_code == 200)
        self.wait_ready(child, ready, timeout=180)
        self.urls["inference API docs"] = url + "/docs"
        self.urls["inference API metrics"] = url + "/metrics"

    def start_ui(self) -> None:
        port = self.port(self.settings.streamlit_port, "the clinician app")
        url = f"http://127.0.0.1:{port}"
        child = self.spawn("streamlit", [str(VENV_BIN / "readmission"), "ui", "--port", str(port)])
        self.wait_ready(child, http_ready(url + "/_stcore/health"), timeout=120)
        self.urls["clinician app (Streamlit)"] = url

    def start_airflow(self) -> None:
        port = self.port(self.settings.airflow_port, "the Airflow UI")
        url = f"http://127.0.0.1:{port}"
        env = {
            **airflow_env(self.settings),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("airflow_jwt_secret"),
        }
        child = self.spawn("airflow", [str(VENV_BIN / "airflow"), "standalone"], env=env, stop_signal=signal.SIGINT)
        child.stop_timeout = 30  # SIGINT lets standalone stop its scheduler, api-server and workers
        self.wait_ready(child, http_ready(url + "/api/v2/monitor/health", ok=lambda r: r.is_success), timeout=300)
        self.urls["Airflow UI"] = url
        passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        self.urls["Airflow login (user: password)"] = str(passwords)

    def _secret(self, name: str) -> str:
        path = self.local_dir / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(64))
        return path.read_text().strip()

    # ----------------------------------------------------------------- the pipeline

    def total_batches(self) -> int:
        response = httpx.get(self.env["DATA_API_URL"].rstrip("/") + "/batches", timeout=30)
        response.raise_for_status()
        return int(response.json()["total_batches"])

    def run_pipeline(self, conf: dict[str, Any]) -> dict[str, Any]:
        """One DAG run (``dag.test()``) in a subprocess; its summary. Task starts are logged as they happen."""
        cmd = [sys.executable, "-m", "readmission.dagrun", "--conf", json.dumps(conf)]
        child = self.spawn("pipeline", cmd)
        child.stop_timeout = 5  # a task busy in native code ignores SIGTERM: do not wait for it long
        with _follow(child.log_path, _progress):
            child.process.wait()
        self.children.remove(child)
        child.stop()
        summary = parse_summary(child.log_tail(200_000))
        if summary is None:
            raise PlatformError(
                f"the pipeline run ended (code {child.process.returncode}) without a summary; "
                f"its log ({child.log_path}) ends with:\n{child.log_tail()}"
            )
        states = ", ".join(f"{task} {info['state']}" for task, info in summary["tasks"].items())
        logger.info("pipeline run %s: %s (%s)", summary["run_id"], summary["state"], states)
        return summary

    def champion_version(self) -> str | None:
        from mlflow import MlflowClient  # mlflow takes seconds to import: only once the services are up
        from mlflow.exceptions import MlflowException

        client = MlflowClient(self.env.get("MLFLOW_TRACKING_URI") or self.settings.resolved_mlflow_tracking_uri)
        try:
            version = client.get_model_version_by_alias(self.settings.model_name, self.settings.model_alias)
        except MlflowException:
            return None
        return str(version.version)

    def ensure_champion(self) -> str:
        """Run the DAG until the registry has a champion (a second run forces a retrain if needed)."""
        batches = self.batches or self.total_batches()
        summary = self.run_pipeline({"batches": batches, "force_retrain": False})
        champion = self.champion_version()
        if champion is None:
            if summary["state"] != "success":
                raise PlatformError(f"the pipeline run failed; see {self.log_dir / 'pipeline.log'}")
            logger.info("no champion yet and nothing new to ingest: retraining on the stored data")
            summary = self.run_pipeline({"batches": batches, "force_retrain": True})
            champion = self.champion_version()
        if champion is None:
            raise PlatformError(f"the pipeline ended without a champion model; see {self.log_dir / 'pipeline.log'}")
        return champion

    # ----------------------------------------------------------------- lifecycle

    def up(self) -> dict[str, str]:
        """Start everything; the URLs, in the order they came up."""
        started = time.monotonic()
        migrate = self.spawn("airflow_db", [sys.executable, "-m", "readmission.dagrun", "--migrate-only"])
        starting = (self.start_data_api(), self.start_mlflow(), self.start_pushgateway())
        pending = [s for s in starting if s is not None]
        for child, ready in pending:
            self.wait_ready(child, ready, timeout=180)
        self.timings["services"] = time.monotonic() - started
        migrate.process.wait()
        self.children.remove(migrate)
        migrate.stop()
        if migrate.process.returncode != 0:
            raise PlatformError(f"the Airflow metadata database could not be migrated:\n{migrate.log_tail()}")
        self.champion = self.ensure_champion()
        self.timings["pipeline"] = time.monotonic() - started - self.timings["services"]
        logger.info("champion: %s version %s", self.settings.model_name, self.champion)
        self.start_api()
        self.start_ui()
        if self.airflow_ui:
            self.start_airflow()
        self.timings["total"] = time.monotonic() - started
        return dict(self.urls)

    def wait(self) -> None:
        """Block until a signal (Ctrl-C) or until a service dies."""
        while True:
            for child in self.children:
                if not child.alive():
                    raise PlatformError(
                        f"{child.name} stopped (code {child.process.returncode}); its log ends with:\n"
                        f"{child.log_tail()}"
                    )
            time.sleep(1)

    def down(self) -> None:
        for child in reversed(self.children):
            logger.info("stopping %s", child.name)
            child.stop()
        self.children.clear()


def _progress(line: str) -> None:
    """Log the task events the run's Airflow listener prints (``readmission.dagrun.TaskProgress``)."""
    event = parse_progress(line)
    if event is None:
        return
    if event["state"] == "running":
        logger.info("pipeline: %s", event["task"])
    else:
        error = f": {event['error']}" if event.get("error") else ""
        logger.warning("pipeline: %s %s (try %s)%s", event["task"], event["state"], event["try_number"], error)


@contextlib.contextmanager
def _follow(path: Path, on_line: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_line`` for each line appended to ``path`` while the block runs."""
    stop = threading.Event()

    def follow() -> None:
        with open(path, errors="replace") as handle:
            handle.seek(0, os.SEEK_END)
            while True:
                line = handle.readline()
                if line:
                    on_line(line)
                elif stop.is_set():
                    return
                else:
                    time.sleep(0.2)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def run(
    settings: Settings,
    *,
    airflow_ui: bool,
    batches: int | None,
    exit_when_ready: bool,
    on_ready: Callable[[Platform], None],
) -> Platform:
    """Bring the platform up, call ``on_ready``, and keep it up until Ctrl-C (or stop at once)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # readiness polls are not news
    platform = Platform(settings, airflow_ui=airflow_ui, batches=batches)

    def on_signal(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a shell that starts `make run` in the background ignores SIGINT.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        platform.up()
        on_ready(platform)
        if not exit_when_ready:
            platform.wait()
    except KeyboardInterrupt:
        logger.info("interrupted: stopping every service")
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        platform.down()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return platform


def report(platform: Platform) -> list[str]:
    """The human summary printed once everything is up."""
    width = max(len(name) for name in platform.urls) if platform.urls else 0
    lines = ["", "The platform is up:"]
    lines += [f"  {name.ljust(width)}  {url}" for name, url in platform.urls.items()]
    lines.append(f"  champion model: {platform.settings.model_name} version {platform.champion}")
    t = platform.timings
    lines.append(
        f"  bring-up: {t.get('total', 0):.0f} s (services {t.get('services', 0):.0f} s, "
        f"pipeline {t.get('pipeline', 0):.0f} s); logs in {platform.log_dir}"
    )
    return lines
