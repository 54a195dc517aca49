"""Real faults injected into real services; each scenario returns what happened, in figures.

The fault suite (``tests/faults``, ``make test-faults``) asserts on these outcomes and
``benchmarks/faults.py`` prints them as a table. A fault is a killed process (MariaDB),
an unreachable or misbehaving service behind :class:`tests.support.proxy.FlakyProxy`
(connection resets, HTTP 503, slow answers, down), never a mock.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from readmission import export, ingest, schema, storage, supervisor
from readmission.data_source import DataSourceClient
from tests.support import services
from tests.support.proxy import FlakyProxy


@dataclass(frozen=True)
class Outcome:
    fault: str
    affected: str
    """Requests or rows the fault hit, in words with a number."""
    recovered: bool
    rows_lost: int
    details: Mapping[str, Any]


# --------------------------------------------------------------------------- a MariaDB that can be killed


class KillableMariaDB:
    """A private MariaDB whose server process can be SIGKILLed and started again on the same data."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.datadir = base_dir / "mariadb"
        self.datadir.mkdir(parents=True)
        for path in (base_dir, self.datadir):
            os.chown(path, *_mysql_ids())
        subprocess.run(
            [supervisor.mariadb_binary("mariadb-install-db"), "--user=mysql", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = services.free_port()
        self.socket = self.datadir / "mysqld.sock"
        self.process: subprocess.Popen | None = None
        self.start()
        self.server = services.MariaDB("127.0.0.1", self.port, "readmission", "faults-pw-" + os.urandom(6).hex(),
                                       self.socket)  # fmt: skip
        self.server.admin(
            f"CREATE USER '{self.server.user}'@'127.0.0.1' IDENTIFIED BY '{self.server.password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{self.server.user}'@'127.0.0.1';"
        )

    def start(self) -> None:
        cmd = [
            supervisor.mariadb_binary("mariadbd"), "--no-defaults", "--user=mysql", f"--datadir={self.datadir}",
            f"--port={self.port}", f"--socket={self.socket}", "--bind-address=127.0.0.1", "--local-infile=1",
            "--innodb-buffer-pool-size=128M", "--skip-log-bin",
        ]  # fmt: skip
        log = open(self.base_dir / "mariadb.log", "ab")  # noqa: SIM115 - the server keeps it
        self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        ping = [supervisor.mariadb_binary("mariadb-admin"), f"--socket={self.socket}", "-uroot", "ping"]
        services.wait_until(lambda: subprocess.run(ping, capture_output=True).returncode == 0, timeout=60,
                            what="MariaDB", process=self.process)  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; InnoDB recovers at the next start."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            services.stop_process_group(self.process)


def _mysql_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("mysql")
    return entry.pw_uid, entry.pw_gid


@contextmanager
def killable_mariadb() -> Iterator[KillableMariaDB]:
    base = services.temp_dir("readmission-faults-db-")
    server = KillableMariaDB(base)
    try:
        yield server
    finally:
        server.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _raw_counts(engine: sa.Engine) -> tuple[int, int, int]:
    return (
        storage.count_rows(engine, storage.diabetes_raw),
        storage.count_rows(engine, storage.quarantine),
        storage.count_rows(engine, storage.ingestion_log),
    )


def mariadb_killed_mid_ingest(records: Sequence[dict[str, Any]]) -> Outcome:
    """Kill MariaDB after the batch's rows are loaded but before the commit; restart; re-run."""
    first, second = list(records[:15_000]), list(records[15_000:30_000])
    with killable_mariadb() as db:
        engine = storage.raw_engine(db.server.fresh_database("raw"))
        ingest.ingest_records(engine, first, 1)
        loader = storage.loading_engine(engine)

        def kill_before_commit(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO") and storage.INGESTION_LOG_TABLE in statement:
                db.kill()  # the rows of batch 2 are loaded, the transaction is open

        sa.event.listen(loader, "before_cursor_execute", kill_before_commit)
        try:
            ingest.ingest_records(engine, second, 2)
            failed = ""
        except sa.exc.DBAPIError as error:
            failed = type(error.orig).__name__
        finally:
            sa.event.remove(loader, "before_cursor_execute", kill_before_commit)
        db.start()
        after_crash = _raw_counts(engine)
        rerun = ingest.ingest_records(engine, second, 2)
        again = ingest.ingest_records(engine, second, 2)
        final = _raw_counts(engine)
        stored = set(storage.read_table(engine, storage.diabetes_raw)["encounter_id"].tolist())
    expected = {r["encounter_id"] for r in first + second}
    return Outcome(
        fault="MariaDB killed (SIGKILL) mid-ingest, before the commit",
        affected=f"{len(second):,} rows of batch 2",
        recovered=bool(failed) and after_crash == (len(first), 0, 1) and rerun.inserted == len(second)
        and again.inserted == 0 and final == (len(expected), 0, 3),
        rows_lost=len(expected - stored),
        details={"error": failed, "after_crash": after_crash, "rerun_inserted": rerun.inserted,
                 "again_duplicates": again.duplicates, "final": final},
    )  # fmt: skip


# --------------------------------------------------------------------------- data API flapping


def data_api_flapping(data_api_port: int, raw_url: str) -> Outcome:
    """Reset, 503, a too-slow answer and 503 again before the batch comes through; then a re-run."""
    proxy = FlakyProxy(data_api_port, script=deque(["reset", "503", "slow", "503"]), delay=2.0).start()
    engine = storage.raw_engine(raw_url)
    try:
        with DataSourceClient(proxy.url, timeout=1.0, retries=5, backoff=0.1) as client:
            first = ingest.ingest_batch(engine, client, 1)
            again = ingest.ingest_batch(engine, client, 1)
    finally:
        proxy.stop()
    rows = storage.count_rows(engine, storage.diabetes_raw)
    times = [event.at for event in proxy.events]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    return Outcome(
        fault="data API flapping (reset, 503, slow, 503)",
        affected=f"{len(proxy.events)} connections, 4 failed (reset, 503, slow, 503)",
        recovered=first.inserted == first.received and again.inserted == 0 and rows == first.received,
        rows_lost=first.received - rows,
        details={"steps": proxy.steps(), "gaps_seconds": gaps, "inserted": first.inserted,
                 "rerun_duplicates": again.duplicates, "raw_rows": rows},
    )  # fmt: skip


# --------------------------------------------------------------------------- hostile rows

SQL_TEXT = "x'); DROP TABLE diabetes_raw; --"


def hostile_rows(records: Sequence[dict[str, Any]], raw_url: str) -> Outcome:
    """SQL text in every text field (one row each) and the defect-3 values, among genuine rows."""
    genuine = [dict(r) for r in records[:2000]]
    text_columns = [c.name for c in schema.COLUMNS if not c.is_integer]
    hostile = [dict(genuine[i], **{name: SQL_TEXT}) for i, name in enumerate(text_columns)]
    tricky = [("diag_1", "250\n"), ("diag_2", "\u0662\u0665\u0660"), ("medical_specialty", "Cardiology\n"),
              ("medical_specialty", "C" * 65), ("age", "[10-20)\n")]  # fmt: skip
    offset = len(hostile)
    hostile += [dict(genuine[offset + i], **{name: value}) for i, (name, value) in enumerate(tricky)]
    clean = genuine[len(hostile) :]
    engine = storage.raw_engine(raw_url)
    with engine.connect() as conn:
        tables_before = sorted(sa.inspect(conn).get_table_names())
    result = ingest.ingest_records(engine, [*hostile, *clean], 1)
    with engine.connect() as conn:
        tables_after = sorted(sa.inspect(conn).get_table_names())
        reasons = [row[0] for row in conn.execute(sa.select(storage.quarantine.c.reason))]
        checks = {row[0].split(".")[-1]: row[3] for table in tables_after
                  for row in conn.exec_driver_sql(f"CHECK TABLE `{table}`")}  # fmt: skip
    stored = set(storage.read_table(engine, storage.diabetes_raw)["encounter_id"].tolist())
    lost = {r["encounter_id"] for r in clean} - stored
    return Outcome(
        fault=f"hostile rows (SQL text in each of {len(text_columns)} text fields; newline, non-ASCII, too long)",
        affected=f"{len(hostile)} of {len(hostile) + len(clean):,} rows",
        recovered=result.quarantined == len(hostile) and result.inserted == len(clean)
        and tables_after == tables_before and set(checks.values()) == {"OK"},
        rows_lost=len(lost),
        details={"quarantined": result.quarantined, "inserted": result.inserted, "reasons": reasons,
                 "tables": tables_after, "check_table": checks},
    )  # fmt: skip


# --------------------------------------------------------------------------- object store down during export


def _splits(records: Sequence[dict[str, Any]]) -> dict[str, pd.DataFrame]:
    frame = pd.DataFrame(list(records[:3000]), columns=list(schema.COLUMN_NAMES))
    return {"train": frame.iloc[:2000], "validation": frame.iloc[2000:2500], "test": frame.iloc[2500:]}


def object_store_down_during_export(records: Sequence[dict[str, Any]], s3: services.S3Server) -> Outcome:
    """The object store goes down after the first file: a clear error, no manifest visible; the retry works."""
    bucket = s3.create_bucket()
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    proxy = FlakyProxy(port, down_after_puts=1).start()
    uri = f"s3://{bucket}/datasets"
    splits = _splits(records)
    saved = {key: os.environ.get(key) for key in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")}
    os.environ.update({**services.S3_TEST_ENV, "AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "standard"})
    try:
        error = ""
        try:
            export.export_splits(splits, uri=uri, target="any", s3_endpoint_url=proxy.url)
        except export.DatasetError as exc:
            error = str(exc)
        keys_after_failure = _keys(s3, bucket)
        proxy.down_after_puts = None
        proxy.up()
        manifest = export.export_splits(splits, uri=uri, target="any", s3_endpoint_url=proxy.url)
        latest = export.read_manifest(uri, s3_endpoint_url=proxy.url)
        loaded = {name: len(export.load_split(latest, name, s3_endpoint_url=proxy.url)) for name in splits}
    finally:
        proxy.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    expected = {name: len(frame) for name, frame in splits.items()}
    return Outcome(
        fault="object store down during export",
        affected=f"{proxy.puts} PUTs (the 2nd cut) + {proxy.steps().count('down') - 1} refused retries",
        recovered=bool(error) and not any(k.endswith(export.MANIFEST_NAME) for k in keys_after_failure)
        and latest["data_version"] == manifest["data_version"] and loaded == expected,
        rows_lost=sum(expected.values()) - sum(loaded.values()),
        details={"error": error, "keys_after_failure": keys_after_failure, "loaded": loaded},
    )  # fmt: skip


def _keys(s3: services.S3Server, bucket: str) -> list[str]:
    answer = s3.client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))


# --------------------------------------------------------------------------- MLflow down during training


@contextmanager
def quick_mlflow_client() -> Iterator[None]:
    """MLflow's client gives up after one retry (its default waits minutes for a server that is down)."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}  # fmt: skip
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def mlflow_down_during_training(
    mlflow: services.MlflowServer, splits: Mapping[str, pd.DataFrame], local_dir: Path
) -> Outcome:
    """Training while MLflow is down fails with a clear error; the retry (MLflow back) logs and registers."""
    from readmission import modeling, pipeline
    from readmission.config import Settings

    port = int(mlflow.tracking_uri.rsplit(":", 1)[1])
    proxy = FlakyProxy(port).start()
    proxy.down()
    settings = Settings(local_dir=local_dir, mlflow_tracking_uri=proxy.url, mlflow_experiment_name="faults-training",
                        model_name="faults-training-model")  # fmt: skip
    attempts: list[str] = []
    version = None
    try:
        with quick_mlflow_client():
            for _ in range(2):  # the task, then its retry
                started = time.monotonic()
                try:
                    result = pipeline.train_run(splits["train"], splits["validation"], splits["test"],
                                                    settings=settings, families=(modeling.LOGISTIC,))  # fmt: skip
                    version = result.version
                    attempts.append(f"ok in {time.monotonic() - started:.0f} s")
                except Exception as error:
                    attempts.append(f"{type(error).__name__} after {time.monotonic() - started:.0f} s: {error}"[:300])
                    proxy.up()
    finally:
        proxy.stop()
    return Outcome(
        fault="MLflow down during training",
        affected=f"{len(attempts)} training attempts, 1 failed",
        recovered=len(attempts) == 2 and attempts[1].startswith("ok") and version is not None,
        rows_lost=0,
        details={"attempts": attempts, "version": version},
    )


# --------------------------------------------------------------------------- MLflow down while serving / at start


def _settings(local_dir: Path, tracking_uri: str, model_name: str, cache_dir: Path) -> Any:
    from readmission.config import Settings

    return Settings(local_dir=local_dir, mlflow_tracking_uri=tracking_uri, model_name=model_name,
                    model_cache_dir=cache_dir, api_admin_token=ADMIN_TOKEN, model_poll_seconds=3600)  # fmt: skip


ADMIN_TOKEN = "faults-admin-token-0123456789abcdef"


def _scorable(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records the API scores (death and hospice discharges are refused by design: 422)."""
    return [r for r in records if not schema.not_covered_reason(r["discharge_disposition_id"])]


def mlflow_down_while_serving(tracking_uri: str, model_name: str, records: Sequence[dict[str, Any]],
                              local_dir: Path) -> Outcome:  # fmt: skip
    """MLflow goes down under a serving API: reloads fail and are counted, every prediction still answers."""
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    records = _scorable(records)
    port = int(tracking_uri.rsplit(":", 1)[1])
    proxy = FlakyProxy(port).start()
    app = create_app(_settings(local_dir, proxy.url, model_name, local_dir / "cache"))
    statuses: list[int] = []
    try:
        with quick_mlflow_client(), TestClient(app) as client:
            loaded = app.state.manager.wait_until_loaded(120)
            proxy.down()
            auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            reload_down = client.post("/reload-model", headers=auth).status_code
            statuses += [client.post("/predict", json=record).status_code for record in records[:200]]
            statuses.append(client.post("/predict/batch", json={"records": list(records[:500])}).status_code)
            proxy.up()
            for _ in range(3):  # the first may meet a pooled connection the outage reset (the poller retries too)
                reload_up = client.post("/reload-model", headers=auth).status_code
                if reload_up == 200:
                    break
    finally:
        proxy.stop()
    failed = sum(status != 200 for status in statuses)
    return Outcome(
        fault="MLflow down while the API serves",
        affected=f"{len(statuses)} requests (200 /predict, 1 /predict/batch of 500) and 1 reload while down",
        recovered=loaded and failed == 0 and (reload_down, reload_up) == (503, 200),
        rows_lost=0,
        details={"failed_requests": failed, "reload_while_down": reload_down, "reload_after": reload_up},
    )


def mlflow_down_at_api_start_with_a_cache(tracking_uri: str, model_name: str, records: Sequence[dict[str, Any]],
                                          local_dir: Path) -> Outcome:  # fmt: skip
    """An API restarted while MLflow is down serves its cached champion at once, then returns to MLflow."""
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    records = _scorable(records)
    port = int(tracking_uri.rsplit(":", 1)[1])
    proxy = FlakyProxy(port).start()
    cache = local_dir / "cache"
    try:
        with quick_mlflow_client():
            first = create_app(_settings(local_dir / "first", proxy.url, model_name, cache))
            with TestClient(first) as client:
                if not first.state.manager.wait_until_loaded(120):
                    raise RuntimeError(f"the first API did not load its model: {first.state.manager.last_error}")
                before = [client.post("/predict", json=r).json()["readmission_risk"] for r in records[:50]]
            proxy.down()
            app = create_app(_settings(local_dir / "second", proxy.url, model_name, cache))
            with TestClient(app) as client:
                ready = client.get("/ready").status_code
                source = client.get("/model-info").json().get("source")
                answers = [client.post("/predict", json=r) for r in records[:50]]
    finally:
        proxy.stop()
    after = [a.json()["readmission_risk"] for a in answers if a.status_code == 200]
    return Outcome(
        fault="MLflow down when the API starts (cached champion on disk)",
        affected=f"{len(answers)} requests after a restart",
        recovered=ready == 200 and source == "cache" and after == before,
        rows_lost=0,
        details={"ready": ready, "source": source, "answered": len(after)},
    )
