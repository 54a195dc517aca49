"""Inject real faults into real services and print what each one cost: the fault suite's figures.

Starts a private MariaDB, moto_server (S3), an MLflow server and the data API on loopback
ports, trains a small champion, then runs every scenario of ``tests/support/scenarios.py``
(the same code the fault suite asserts on) and prints: fault, requests or rows affected,
recovered (yes/no), rows lost (goal: 0 everywhere).

Run from the repository root: ``.venv/bin/python -m benchmarks.faults`` (about 3-5 minutes).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import scenarios, services
from tests.support.splits import grouped_splits

from readmission.config import DATA_CSV
from readmission.data_api.loading import read_raw_csv, to_records

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # before mlflow's first import (in _champion)


def _champion(mlflow: services.MlflowServer, splits: dict, local_dir: Path) -> str:
    """A small logistic champion, trained and promoted by the package's own code."""
    from readmission import modeling, pipeline, registry
    from readmission.config import Settings

    settings = Settings(local_dir=local_dir, mlflow_tracking_uri=mlflow.tracking_uri,
                        mlflow_experiment_name="faults-bench", model_name="faults-bench-champion")  # fmt: skip
    result = pipeline.train_run(splits["train"], splits["validation"], splits["test"], settings=settings,
                                families=(modeling.LOGISTIC,))  # fmt: skip
    assert result.version is not None
    registry.promote_if_better(result.version, splits["validation"], settings=settings)
    return settings.model_name


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    raw = read_raw_csv(DATA_CSV)
    records = to_records(raw)
    splits = grouped_splits(raw, train_rows=3000)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    outcomes: list[scenarios.Outcome] = []
    timings: list[float] = []

    def run(scenario: Callable[..., scenarios.Outcome], *args: object) -> None:
        started = time.perf_counter()
        outcomes.append(scenario(*args))
        timings.append(time.perf_counter() - started)

    try:
        db_dir = services.temp_dir("bench-faults-db-")
        with (
            services.mariadb_server(db_dir) as mariadb,
            services.s3_server(work) as s3,
            services.data_api_server(work) as data_api,
        ):
            os.environ.update(services.S3_TEST_ENV)
            run(scenarios.mariadb_killed_mid_ingest, records)
            run(scenarios.data_api_flapping, data_api.port, mariadb.fresh_database("flap"))
            run(scenarios.hostile_rows, records, mariadb.fresh_database("hostile"))
            run(scenarios.object_store_down_during_export, records, s3)
            with services.mlflow_server(mariadb, s3, work) as mlflow:
                run(scenarios.mlflow_down_during_training, mlflow, splits, work / "training")
                name = _champion(mlflow, splits, work / "champion")
                run(scenarios.mlflow_down_while_serving, mlflow.tracking_uri, name, records, work / "serving")
                run(scenarios.mlflow_down_at_api_start_with_a_cache, mlflow.tracking_uri, name, records,
                    work / "restart")  # fmt: skip
        shutil.rmtree(db_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"faults injected into real services; load average {load:.1f} on {os.cpu_count()} CPUs")
    width = max(len(o.fault) for o in outcomes)
    wide = max(len(o.affected) for o in outcomes)
    print(f"{'fault':<{width}}  {'requests / rows affected':<{wide}}  recovered  rows lost  seconds")
    for outcome, seconds in zip(outcomes, timings, strict=True):
        print(f"{outcome.fault:<{width}}  {outcome.affected:<{wide}}  {'yes' if outcome.recovered else 'NO':<9}  "
              f"{outcome.rows_lost:>9}  {seconds:7.1f}")  # fmt: skip
    lost = sum(o.rows_lost for o in outcomes)
    print(f"rows lost in total: {lost}; recovered: {sum(o.recovered for o in outcomes)} of {len(outcomes)}")
    if lost or not all(o.recovered for o in outcomes):
        for outcome in outcomes:
            if not outcome.recovered or outcome.rows_lost:
                print(f"  {outcome.fault}: {outcome.details}")
        sys.exit(1)


if __name__ == "__main__":
    main()
