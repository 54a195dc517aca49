"""A real Prometheus scrapes a real inference API; the dashboards' and rules' queries run on it.

The API runs with MLflow unreachable (no model: /predict answers 503), which is enough to
prove the scrape path, the metric names and every PromQL expression we ship.
TODO(deploy): switch to the shared champion fixture once tests/conftest.py has one, and
assert prediction/risk series too.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import services
from tests.deploy import promql
from tests.deploy.promql import REPO_ROOT

pytestmark = pytest.mark.e2e


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    return list(body["data"]["result"])


def test_prometheus_scrapes_the_inference_api(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: `apt-get install -y prometheus` (.ci/run installs it)"
    api_port, prom_port = services.free_port(), services.free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = {
        "ENVIRONMENT": "local",
        "LOCAL_DIR": str(tmp_path / "local"),
        "MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{services.free_port()}",
        "MODEL_POLL_SECONDS": "5",
    }
    uvicorn = [
        str(services.VENV_BIN / "uvicorn"),
        "readmission.serving.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(api_port),
    ]
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
    with (
        services.running(
            uvicorn, ready=services.http_ok(api + "/health"), what="inference API", env=env, timeout=120,
            log_path=tmp_path / "api.log",
        ),
        services.running(
            prometheus_cmd, ready=services.http_ok(prometheus + "/-/ready"), what="prometheus", timeout=60,
            log_path=tmp_path / "prometheus.log",
        ),
    ):  # fmt: skip
        record = {"race": "Caucasian"}
        for _ in range(5):
            assert httpx.get(api + "/health", timeout=5).status_code == 200
            assert httpx.post(api + "/predict", json=record, timeout=10).status_code in {422, 503}
        assert httpx.get(api + "/ready", timeout=5).status_code == 503

        def scraped() -> bool:
            return bool(query(prometheus, 'readmission_http_requests_total{job="inference-api", endpoint="/predict"}'))

        services.wait_until(scraped, timeout=30, what="readmission_* series in Prometheus")
        (up,) = query(prometheus, 'up{job="inference-api"}')
        assert up["value"][1] == "1"
        names = {item["metric"]["__name__"] for item in query(prometheus, '{__name__=~"readmission_.+"}')}
        assert {
            "readmission_http_requests_total",
            "readmission_http_request_duration_seconds_bucket",
            "readmission_model_loaded",
            "readmission_process_cpu_seconds_total",
            "readmission_process_resident_memory_bytes",
        } <= names
        (loaded,) = query(prometheus, 'readmission_model_loaded{job="inference-api"}')
        assert loaded["value"][1] == "0"
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
