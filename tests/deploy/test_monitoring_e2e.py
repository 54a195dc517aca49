"""Operators' view, end to end: real DAG runs push to a real Pushgateway, a real Prometheus scrapes it
and the real inference API, and every panel of every dashboard returns data.

Two ``dag.test()`` runs on the DAG stack (``tests.support.airflow``: MariaDB, mlflow server, S3, the data API with
small batches): the first trains the champion (there is none yet), the second ingests one more
batch, checks its drift against the champion and skips training (the thresholds are set so that
it must), with the reason in the log. Then the API serving that champion gets traffic, and
Prometheus (the shipped ``prometheus.yml`` and rules) scrapes both.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from readmission import schema, storage
from readmission.config import Settings
from readmission.data_api.loading import to_records
from tests.support import REPO_ROOT, promql, services
from tests.support.airflow import Stack, task_states

pytestmark = [pytest.mark.e2e, pytest.mark.dags]

NO_RETRAIN = {"RETRAIN_MIN_NEW_ROWS": "1000000", "DRIFT_PSI_THRESHOLD": "1000"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with services.pushgateway_server(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


@pytest.fixture(scope="module")
def runs(stack: Stack, gateway: str) -> dict[str, Any]:
    first, first_log = stack.run({"batches": 1}, extra={"PUSHGATEWAY_URL": gateway})
    second, second_log = stack.run({"batches": 1}, extra={"PUSHGATEWAY_URL": gateway, **NO_RETRAIN})
    return {"first": first, "first_log": first_log, "second": second, "second_log": second_log}


def test_the_first_run_trains_and_the_second_checks_drift_and_skips_training(stack: Stack, runs) -> None:
    assert runs["first"]["state"] == "success", runs["first_log"][-3000:]
    assert task_states(runs["first"])["train_models"] == "success"
    assert "there is no champion with a drift reference yet" in runs["first_log"]
    assert runs["second"]["state"] == "success", runs["second_log"][-3000:]
    states = task_states(runs["second"])
    assert states["check_drift"] == "success"
    assert states["train_models"] == "skipped"
    assert "NOT retraining: only" in runs["second_log"]
    # The drift table: one row per monitored field for the second batch (the first had no champion yet).
    with storage.get_engine(stack.clean_url).connect() as conn:
        table = storage.clean_table(storage.DRIFT_TABLE)
        rows = conn.execute(sa.select(table.c.batch_number, sa.func.count()).group_by(table.c.batch_number)).all()
    from readmission import drift

    assert rows == [(2, len(drift.monitored_columns()))]
    # MLflow holds the batch's drift report.
    client = stack.client()
    (experiment,) = [e for e in client.search_experiments() if e.name == stack.model_name]
    (report_run,) = client.search_runs([experiment.experiment_id], "tags.kind = 'drift'")
    assert report_run.data.tags["batch_number"] == "2"
    assert "max_psi" in report_run.data.metrics
    html = client.download_artifacts(report_run.info.run_id, "drift/report.html")
    assert Path(html).read_text().startswith("<!doctype html>")


def test_every_candidate_of_both_outcomes_reaches_the_gateway(runs, gateway: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    tried: dict[str, set[str]] = {}
    selected: dict[str, list[str]] = {}
    for family in text_string_to_metric_families(httpx.get(gateway + "/metrics", timeout=10).text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "readmission_candidate_metric" and labels["metric"] == "roc_auc":
                assert labels["split"] == "val"
                assert 0.5 < sample.value < 1
                tried.setdefault(labels["outcome"], set()).add(labels["candidate"])
            if sample.name == "readmission_candidate_selected" and sample.value == 1:
                selected.setdefault(labels["outcome"], []).append(labels["candidate"])
    # TRAIN_MAX_CONFIGURATIONS=1 in the stack: each family's first configuration, no seed bag
    expected = {f"{family}_1" for family in Settings().candidate_families}
    assert tried == {"any": expected, "within_30_days": expected}
    assert {outcome: len(names) for outcome, names in selected.items()} == {"any": 1, "within_30_days": 1}


def test_drift_above_the_threshold_or_enough_new_rows_decide_retraining(stack: Stack, runs) -> None:
    from readmission import monitoring

    settings = Settings(
        mlflow_tracking_uri=stack.tracking_uri, model_name=stack.model_name, raw_database_url=stack.raw_url,
        clean_database_url=stack.clean_url, drift_psi_threshold=0.2, retrain_min_new_rows=1_000_000,
        mlflow_experiment_name=stack.model_name,
    )  # fmt: skip
    champion = monitoring.champion_reference(settings)
    assert champion is not None
    drifted = [{"drifted": ["age"], "max_psi": 0.45}]
    train, reason = monitoring.retrain_decision(drifted, champion, settings=settings)
    assert train
    assert "drift above DRIFT_PSI_THRESHOLD=0.2 in age (max PSI 0.450)" in reason
    train, reason = monitoring.retrain_decision(
        [], champion, settings=settings.model_copy(update={"retrain_min_new_rows": 1})
    )
    assert train
    assert "new rows since champion" in reason
    assert monitoring.retrain_decision([], champion, force=True, settings=settings) == (True, "force_retrain is set")


def _prometheus_config(tmp_path: Path, api_port: int, gateway_port: int, prom_port: int) -> Path:
    config = yaml.safe_load((REPO_ROOT / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = []
    for path in promql.rule_files():
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
        (tmp_path / path.name).write_text(yaml.safe_dump(rules))
        config["rule_files"].append(str(tmp_path / path.name))
    ports = {"inference-api": api_port, "pushgateway": gateway_port, "prometheus": prom_port}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return list(body["data"]["result"])


def test_every_dashboard_panel_returns_data_on_a_real_prometheus(
    stack: Stack,
    runs,
    gateway: str,
    genuine_raw,
    tmp_path: Path,
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: `apt-get install -y prometheus` (.ci/run installs it)"
    api_env = {"API_DRIFT_INTERVAL_SECONDS": "1", "MLFLOW_EXPERIMENT_NAME": stack.model_name}
    with services.api_server(stack.tracking_uri, stack.model_name, stack.log_dir, env=api_env) as api:
        scored = genuine_raw[~genuine_raw["discharge_disposition_id"].isin(schema.NOT_READMITTABLE_DISCHARGE_IDS)]
        records = [
            {k: v for k, v in r.items() if k != "readmitted"} for r in to_records(scored.sample(300, random_state=8))
        ]
        for record in records[:20]:
            assert httpx.post(api + "/predict", json=record, timeout=10).status_code == 200
        assert httpx.post(api + "/predict", json={"race": "Caucasian"}, timeout=10).status_code == 422
        assert httpx.post(api + "/predict/batch", json={"records": records}, timeout=30).status_code == 200
        assert httpx.get(api + "/model-info", timeout=10).status_code == 200
        services.wait_until(
            lambda: "readmission_input_drift_psi{" in httpx.get(api + "/metrics", timeout=5).text,
            timeout=60, what="the API's live drift gauges",
        )  # fmt: skip
        prom_port = services.free_port()
        config = _prometheus_config(tmp_path, int(api.rsplit(":", 1)[1]), int(gateway.rsplit(":", 1)[1]), prom_port)
        prometheus = f"http://127.0.0.1:{prom_port}"
        cmd = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{prom_port}"]  # fmt: skip
        with services.running(
            cmd, ready=services.http_ok(prometheus + "/-/ready"), what="prometheus", timeout=60,
            log_path=tmp_path / "prometheus.log",
        ):  # fmt: skip
            services.wait_until(
                lambda: len(query(prometheus, "up == 1")) == 3, timeout=60, what="three healthy scrape targets"
            )
            httpx.post(api + "/predict/batch", json={"records": records[:50]}, timeout=30)  # traffic inside the scrapes
            for record in records[20:40]:
                httpx.post(api + "/predict", json=record, timeout=10)
            time.sleep(4)  # a few scrapes and rule evaluations after the traffic
            empty = []
            for path in promql.dashboards():
                for where, expr in promql.dashboard_exprs(path):
                    if not query(prometheus, promql.grafana_to_promql(expr)):
                        empty.append((where, expr))
            assert empty == [], json.dumps(empty, indent=1)
            names = set(httpx.get(prometheus + "/api/v1/label/__name__/values", timeout=10).json()["data"])
            used = promql.used_names()
            assert used - names - {"ALERTS", "ALERTS_FOR_STATE"} == set()
            (trained,) = query(prometheus, 'readmission_pipeline_retrained{job="readmission-pipeline"}')
            assert trained["value"][1] == "0"  # the second run skipped training
            (batch,) = query(prometheus, "readmission_data_drift_batch_number")
            assert batch["value"][1] == "2"
