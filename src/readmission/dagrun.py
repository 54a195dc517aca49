"""Run the pipeline DAG once, in this process, with ``dag.test()`` on SQLite metadata.

``python -m readmission.dagrun --conf '{"batches": 7}'`` is what ``readmission run``
and the DAG tests start as a subprocess: Airflow reads ``AIRFLOW_HOME`` and its
``AIRFLOW__*`` variables once, at its first import, so each run gets a fresh
interpreter whose environment is set before that import. Defaults:
``AIRFLOW_HOME=LOCAL_DIR/airflow``, the repository's ``dags/`` folder, no examples.
The metadata database is migrated when needed. While the run goes, Airflow's task
listeners print one ``DAGRUN_TASK {json}`` line per task that starts, fails (or will be
retried) or skips itself; the last line on stdout is a JSON summary (``state`` and each
task's state); the exit code is 0 only when the run succeeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from readmission.config import REPO_ROOT, Settings, get_settings

logger = logging.getLogger(__name__)

DAG_ID = "mlops_diabetes_pipeline"
SUMMARY_PREFIX = "DAGRUN_SUMMARY "
PROGRESS_PREFIX = "DAGRUN_TASK "


def airflow_env(settings: Settings, dags_folder: Path | None = None) -> dict[str, str]:
    """The ``AIRFLOW_*`` variables of an embedded Airflow under ``LOCAL_DIR/airflow`` (existing values win)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or settings.local_dir / "airflow").resolve()
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or REPO_ROOT / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    return {key: os.environ.get(key) or value for key, value in defaults.items()}


def _migrate_if_needed() -> None:
    from airflow.utils import db  # airflow reads AIRFLOW_* at import: only in the run's own process

    db.upgradedb()


class TaskProgress:
    """Airflow task listener hooks (``on_task_instance_*``): one ``DAGRUN_TASK`` JSON line per event."""

    def __init__(self, write: Callable[[str], object] = sys.stdout.write) -> None:
        self.write = write

    def emit(self, task_instance: Any, state: str, error: object = None) -> None:
        event = {"task": task_instance.task_id, "state": state, "try_number": task_instance.try_number}
        if error is not None:
            event["error"] = str(error)
        self.write(PROGRESS_PREFIX + json.dumps(event) + "\n")
        sys.stdout.flush()

    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self.emit(task_instance, "running")

    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: object) -> None:
        # Airflow calls this hook for a failure that will be retried too; the state says which.
        state = task_instance.state
        self.emit(task_instance, str(getattr(state, "value", state) or "failed"), error)

    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self.emit(task_instance, "skipped")


def _listen(progress: TaskProgress) -> None:
    """Register ``progress`` with the task SDK's listener manager (the one ``dag.test()`` tasks call)."""
    from airflow.listeners import hookimpl  # airflow reads AIRFLOW_* at import (see above)
    from airflow.sdk.listener import get_listener_manager

    for name in ("on_task_instance_running", "on_task_instance_failed", "on_task_instance_skipped"):
        hookimpl(getattr(type(progress), name))
    get_listener_manager().add_listener(progress)


def parse_progress(line: str) -> dict[str, Any] | None:
    """A ``DAGRUN_TASK`` event printed by :class:`TaskProgress`, or None for any other line."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    return dict(json.loads(line[len(PROGRESS_PREFIX) :]))


def run_once(
    conf: dict[str, Any], *, logical_date: datetime | None = None, mark_success: str | None = None
) -> dict[str, Any]:
    """Run one DAG run with ``conf`` and return its state and each task's state.

    The same ``logical_date`` re-runs that run (its task instances are cleared first);
    ``mark_success`` is a regex of task ids marked successful instead of run.
    """
    from airflow.dag_processing.dagbag import DagBag  # airflow reads AIRFLOW_* at import (see above)

    _migrate_if_needed()
    _listen(TaskProgress())
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"the DAG folder has import errors: {bag.import_errors}")
    dag = bag.dags[DAG_ID]
    # run_after = logical_date makes the run id manual__<logical_date>: passing the same date
    # again re-runs that very run (dag.test clears and replaces it) instead of starting a new one.
    when = logical_date or datetime.now(UTC)
    dag_run = dag.test(run_conf=conf, logical_date=when, run_after=when, mark_success_pattern=mark_success)
    from airflow.models.taskinstance import TaskInstance  # airflow reads AIRFLOW_* at import (see above)
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=dag_run.run_id).all()
        tasks = {ti.task_id: {"state": str(ti.state), "try_number": ti.try_number} for ti in rows}
    logical = dag_run.logical_date.isoformat() if dag_run.logical_date else None
    return {"run_id": dag_run.run_id, "logical_date": logical, "state": str(dag_run.state), "tasks": tasks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default="{}", help="the run's params as JSON, e.g. '{\"batches\": 7}'")
    parser.add_argument("--logical-date", type=datetime.fromisoformat, help="re-run the run of this ISO date")
    parser.add_argument("--mark-success", help="regex of task ids marked successful instead of run")
    parser.add_argument("--migrate-only", action="store_true", help="only create/upgrade the metadata database")
    args = parser.parse_args(argv)
    os.environ.update(airflow_env(get_settings()))
    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    if args.migrate_only:
        _migrate_if_needed()
        return 0
    summary = run_once(json.loads(args.conf), logical_date=args.logical_date, mark_success=args.mark_success)
    sys.stdout.write(SUMMARY_PREFIX + json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0 if summary["state"] == "success" else 1


def parse_summary(output: str) -> dict[str, Any] | None:
    """The summary printed by :func:`main`, found in a run's output."""
    for line in reversed(output.splitlines()):
        if line.startswith(SUMMARY_PREFIX):
            return dict(json.loads(line[len(SUMMARY_PREFIX) :]))
    return None


if __name__ == "__main__":
    raise SystemExit(main())
