"""A real Prometheus scrapes a real inference API serving the session's real champion.

The API (``services.api_server``) serves ``champion_model`` (tests/conftest.py); after
single and batch predictions, the request, prediction, risk and model series are in
Prometheus, and every dashboard/rule query we ship runs on that data.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from readmission.serving.records import EXAMPLE_RECORD
from tests.support import REPO_ROOT, promql, services

pytestmark = pytest.mark.e2e


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return list(body["data"]["result"])


def test_prometheus_scrapes_the_inference_api(tmp_path: Path, champion_model, service_dir: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: `apt-get install -y prometheus` (.ci/run installs it)"
    tracking_uri, model_name, version = champion_model
    prom_port = services.free_port()
    with services.api_server(tracking_uri, model_name, service_dir) as api:
        api_port = int(api.rsplit(":", 1)[1])
        _scrape_and_query(tmp_path, binary, api, api_port, prom_port, model_name, str(version))


def _scrape_and_query(
    tmp_path: Path, binary: str, api: str, api_port: int, prom_port: int, model_name: str, version: str
) -> None:
    # The shipped prometheus.yml with the API's address swapped in and the rules loaded.
    config = yaml.safe_load((REPO_ROOT / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    config["rule_files"] = []
    for path in promql.rule_files():  # the shipped rules, evaluated every second
        rules = yaml.safe_load(path.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
        (tmp_path / path.name).write_text(yaml.safe_dump(rules))
        config["rule_files"].append(str(tmp_path / path.name))
    # No Pushgateway here (test_monitoring_e2e scrapes one after real DAG runs).
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] != "pushgateway"]
    for job in config["scrape_configs"]:
        target = api_port if job["job_name"] == "inference-api" else prom_port
        job["static_configs"] = [{"targets": [f"127.0.0.1:{target}"]}]
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    prometheus = f"http://127.0.0.1:{prom_port}"
    prometheus_cmd = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    with services.running(
        prometheus_cmd, ready=services.http_ok(prometheus + "/-/ready"), what="prometheus", timeout=60,
        log_path=tmp_path / "prometheus.log",
    ):  # fmt: skip
        for _ in range(5):
            assert httpx.get(api + "/health", timeout=5).status_code == 200
            assert httpx.post(api + "/predict", json=EXAMPLE_RECORD, timeout=10).status_code == 200
            assert httpx.post(api + "/predict", json={"race": "Caucasian"}, timeout=10).status_code == 422
        batch = httpx.post(api + "/predict/batch", json={"records": [EXAMPLE_RECORD] * 20}, timeout=30)
        assert batch.status_code == 200, batch.text
        assert httpx.get(api + "/ready", timeout=5).status_code == 200

        def scraped() -> bool:  # a scrape taken after every request above
            total = query(prometheus, 'sum(readmission_predictions_total{job="inference-api"})')
            return bool(total) and float(total[0]["value"][1]) == 5 + 20

        services.wait_until(scraped, timeout=30, what="the predictions in Prometheus")
        (up,) = query(prometheus, 'up{job="inference-api"}')
        assert up["value"][1] == "1"
        names = {item["metric"]["__name__"] for item in query(prometheus, '{__name__=~"readmission_.+"}')}
        assert {
            "readmission_http_requests_total",
            "readmission_http_request_duration_seconds_bucket",
            "readmission_model_loaded",
            "readmission_process_cpu_seconds_total",
            "readmission_process_resident_memory_bytes",
            "readmission_predictions_total",
            "readmission_predicted_risk_ratio_bucket",
            "readmission_model_info",
            "readmission_batch_records_bucket",
            "readmission_invalid_records_total",
        } <= names
        (loaded,) = query(prometheus, 'readmission_model_loaded{job="inference-api"}')
        assert loaded["value"][1] == "1"
        # One series per outcome's model: the 30-day model may exist on the session's server too.
        (info,) = query(prometheus, f'readmission_model_info{{job="inference-api",name="{model_name}"}}')
        assert (info["metric"]["name"], info["metric"]["version"], info["metric"]["alias"]) == (
            model_name,
            version,
            "champion",
        )
        (risks,) = query(prometheus, 'readmission_predicted_risk_ratio_count{job="inference-api"}')
        assert float(risks["value"][1]) == 25
        (risk_sum,) = query(prometheus, 'readmission_predicted_risk_ratio_sum{job="inference-api"}')
        assert 0 < float(risk_sum["value"][1]) < 25
        outcomes = query(prometheus, 'readmission_predictions_total{job="inference-api"}')
        assert {item["metric"]["outcome"] for item in outcomes} <= {"readmission", "no_readmission"}
        (invalid,) = query(prometheus, 'readmission_invalid_records_total{job="inference-api", endpoint="/predict"}')
        assert float(invalid["value"][1]) == 5
        (batches,) = query(prometheus, 'readmission_batch_records_count{job="inference-api"}')
        assert float(batches["value"][1]) == 1
        ok = query(
            prometheus, 'readmission_http_requests_total{job="inference-api", endpoint="/predict", status="200"}'
        )
        assert float(ok[0]["value"][1]) == 5
        # Every expression we ship is valid PromQL for the real engine and runs on real data.
        time.sleep(2)
        for path in promql.dashboards():
            for where, expr in promql.dashboard_exprs(path):
                assert isinstance(query(prometheus, promql.grafana_to_promql(expr)), list), where
        for rule in promql.rules():
            query(prometheus, rule["expr"])
        groups = httpx.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert all(rule["health"] != "err" for group in groups for rule in group["rules"])
        services.wait_until(
            lambda: bool(query(prometheus, "job:readmission_http_requests:rate5m")),
            timeout=20,
            what="the recording rules",
        )
