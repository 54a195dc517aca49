"""prometheus.yml, the rules and the Grafana dashboards: checked by promtool and against the API's metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import REPO_ROOT, promql

pytestmark = pytest.mark.unit

GRAFANA = REPO_ROOT / "grafana"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found: `apt-get install -y prometheus` (.ci/run installs it)"
    return subprocess.run([binary, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_promtool_check_config() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    files = [str(p.relative_to(REPO_ROOT)) for p in promql.rule_files()]
    assert files, "no rule files in prometheus/rules/"
    result = promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests() -> None:
    tests = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "prometheus" / "tests").glob("*.yml"))
    assert tests, "no promtool unit tests in prometheus/tests/"
    result = promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_the_required_alerts_exist() -> None:
    alerts = {rule["alert"] for rule in promql.rules() if "alert" in rule}
    required = {
        "ReadmissionApiDown",
        "ReadmissionHighErrorRatio",
        "ReadmissionHighLatencyP99",
        "ReadmissionModelReloadFailures",
        "ReadmissionNoModelLoaded",
        "ReadmissionPipelineTaskFailed",
        "ReadmissionPipelineStale",
        "ReadmissionDataDrift",
        "ReadmissionLiveInputDrift",
        "ReadmissionQuarantineSpike",
    }
    assert required <= alerts
    tested = {
        case["alertname"]
        for path in (REPO_ROOT / "prometheus" / "tests").glob("*.yml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts - tested == set(), "alerts without a unit test that makes them fire"
    for rule in promql.rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}
            assert rule["annotations"]["summary"]


def test_prometheus_scrapes_the_api_and_itself() -> None:
    config = yaml.safe_load((REPO_ROOT / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["inference-api"].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["inference-api"]["static_configs"][0]["targets"] == ["inference-api:8000"]
    assert "prometheus" in jobs
    assert jobs["pushgateway"]["honor_labels"] is True  # keeps job="readmission-pipeline" and the grouping labels
    # The rules address the API by this job name.
    assert all('job="inference-api"' in r["expr"] for r in promql.rules() if "up{" in r["expr"])


# --------------------------------------------------------------------------- Grafana


def test_the_three_dashboards_are_provisioned() -> None:
    titles = {json.loads(path.read_text())["title"] for path in promql.dashboards()}
    assert titles == {"Inference API", "Pipeline & data", "Models"}


def test_grafana_provisioning_parses_and_points_at_the_dashboards() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "readmission.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


@pytest.mark.parametrize("path", promql.dashboards(), ids=lambda p: p.name)
def test_dashboard_is_valid_and_uses_the_provisioned_datasource(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = list(promql.dashboard_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in panels:
        if panel.get("type") == "row":
            continue
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus"


def test_dashboard_covers_what_operators_need() -> None:
    dashboard = json.loads((GRAFANA / "dashboards" / "readmission.json").read_text())
    path = GRAFANA / "dashboards" / "readmission.json"
    used = set().union(*(promql.metric_names(expr) for _, expr in promql.dashboard_exprs(path)))
    assert dashboard["title"] == "Inference API"
    text = json.dumps(dashboard)
    for needed in ("histogram_quantile(0.50", "histogram_quantile(0.99", 'status=~\\"5..\\"'):
        assert needed in text
    assert any(name.endswith("process_cpu_seconds_total") for name in used)
    assert any(name.endswith("process_resident_memory_bytes") for name in used)
    assert any("model_info" in name for name in used)
    assert any("reload" in name for name in used)
    assert any("prediction" in name for name in used)
    assert any("risk" in name for name in used)


def _known_series() -> set[str]:
    families = promql.declared_metrics()
    assert families, (
        f"no prometheus-client metric with a literal name in {promql.SERVING_DIR}: "
        "the inference API must export readmission_* metrics (issue 6) before the dashboards can be checked"
    )
    return (
        promql.exported_series(families, process_prefixes=promql.process_collector_prefixes())
        | promql.pushed_series()
        | promql.recorded_names()
        | promql.SYNTHETIC
    )


def test_the_api_exports_only_readmission_prefixed_metrics() -> None:
    families = promql.declared_metrics()
    assert families, f"no metrics declared in {promql.SERVING_DIR}"
    assert all(name.startswith("readmission_") for name in families), sorted(families)


def test_dashboards_query_only_metrics_the_api_exports() -> None:
    known = _known_series()
    unknown = {
        (where, name)
        for path in promql.dashboards()
        for where, expr in promql.dashboard_exprs(path)
        for name in promql.metric_names(expr)
        if name not in known
    }
    assert unknown == set(), f"exported series: {sorted(known)}"


def test_rules_query_only_metrics_the_api_exports() -> None:
    known = _known_series()
    unknown = {
        (rule.get("alert") or rule.get("record"), name)
        for rule in promql.rules()
        for name in promql.metric_names(rule["expr"])
        if name not in known
    }
    assert unknown == set(), f"exported series: {sorted(known)}"


def test_a_real_app_exports_every_series_the_dashboards_and_rules_use() -> None:
    """Scrape /metrics of the real app factory (no model loaded, lifespan not started: no MLflow needed)."""
    from fastapi.testclient import TestClient

    from readmission.config import Settings
    from readmission.serving.app import create_app

    settings = Settings(mlflow_tracking_uri="http://127.0.0.1:9", environment="local")
    client = TestClient(create_app(settings))
    assert client.get("/health").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    exported = (
        promql.scraped_series(response.text) | promql.pushed_series() | promql.recorded_names() | promql.SYNTHETIC
    )
    used = promql.used_names()
    assert used - exported == set()
    # The static reading of the source agrees with what the app really exports.
    static = promql.exported_series(promql.declared_metrics(), process_prefixes=promql.process_collector_prefixes())
    assert static - exported == set()


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (endpoint, le) (rate(readmission_x_bucket{job=~"$job", status=~"5.."}[5m])) '
        "/ on (job) group_left(version) readmission_model_info or absent(up{job='a'}) > bool 0.5e3"
    )
    assert promql.metric_names(expr) == {"readmission_x_bucket", "readmission_model_info", "up"}
