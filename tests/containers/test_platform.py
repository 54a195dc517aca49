"""The platform as pods: kubernetes/overlays/podman rendered and played with podman on this host.

MariaDB, S3 (moto_server), MLflow (+ its users Job), data API, inference API, Streamlit and
Prometheus come up and pass their own probes; the pipeline runs once in the airflow image against
them; the API pod serves the champion it registered (answers equal the model loaded here); the
Prometheus pod scrapes the API pod; the locust image loads the API for 20 s without a failure.
Everything is removed at the end (pods, volumes, secrets; images stay cached).
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from readmission import schema
from readmission.data_api.loading import read_raw_csv, to_records
from tests.support import REPO_ROOT, kube, podman, services

pytestmark = pytest.mark.containers

IMAGES = ("mariadb", "s3", "mlflow", "data-api", "inference-api", "streamlit", "prometheus", "airflow", "locust")
# The host ports of the overlay (kubernetes/overlays/podman).
PORTS = {"mysql": 23306, "s3": 29000, "mlflow": 25000, "data-api": 25001, "inference-api": 28000,
         "streamlit": 28501, "prometheus": 29090}  # fmt: skip
# (kind, name, container) in the order they are played after MySQL and MLflow.
SERVICES = [
    ("Deployment", "s3", "s3"),
    ("Deployment", "data-api", "data-api"),
    ("Deployment", "inference-api", "inference-api"),
    ("Deployment", "streamlit", "streamlit"),
    ("Deployment", "prometheus", "prometheus"),
]
API = f"http://127.0.0.1:{PORTS['inference-api']}"


def secrets_env() -> dict[str, str]:
    """Every key of kubernetes/secrets.env.example, random, URLs on the overlay's MariaDB port."""
    value = {key: secrets.token_hex(16) for key in ("pipeline", "mlflow", "airflow")}
    db = f"127.0.0.1:{PORTS['mysql']}"
    example = (REPO_ROOT / "kubernetes" / "secrets.env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in example if line and not line.startswith("#")]
    env = {key: secrets.token_hex(24) for key in keys}
    env.update(
        RAW_DATABASE_URL=f"mysql+pymysql://pipeline:{value['pipeline']}@{db}/raw_data_db",
        CLEAN_DATABASE_URL=f"mysql+pymysql://pipeline:{value['pipeline']}@{db}/clean_data_db",
        MLFLOW_BACKEND_STORE_URI=f"mysql+pymysql://mlflow:{value['mlflow']}@{db}/mlflow_db",
        AIRFLOW_DATABASE_URL=f"mysql+pymysql://airflow:{value['airflow']}@{db}/airflow_db",
        PIPELINE_S3_ACCESS_KEY_ID="pipeline",
        MLFLOW_S3_ACCESS_KEY_ID="mlflow",
    )
    return env


def as_env_file(env: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in env.items())


def assert_ports_free() -> None:
    for name, port in PORTS.items():
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"port {port} ({name} of kubernetes/overlays/podman) is taken on this host")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kube.Platform]:
    podman.build(*IMAGES)
    assert_ports_free()
    workdir = tmp_path_factory.mktemp("podman-overlay")
    platform = kube.Platform(kube.render("podman", as_env_file(secrets_env()), workdir), workdir)
    try:
        platform.create_secrets()
        # MLflow before its database: its init container waits (no crash loop) and it comes up
        # once MySQL does.
        mlflow_play = threading.Thread(target=platform.play, args=("Deployment", "mlflow"))
        mlflow_play.start()
        platform.play("StatefulSet", "mysql")
        kube.wait_ready(platform, "StatefulSet", "mysql", "mysql")
        mlflow_play.join()
        kube.wait_ready(platform, "Deployment", "mlflow", "mlflow")
        platform.play("Job", "mlflow-users")
        for kind, name, _ in SERVICES:
            platform.play(kind, name)
        for kind, name, container in SERVICES:
            if name != "inference-api":  # ready only with a model: after the pipeline
                kube.wait_ready(platform, kind, name, container)
        assert kube.wait_exit(platform, "mlflow-users", "mlflow-users") == 0
        yield platform
    finally:
        platform.down()


def airflow_env(platform: kube.Platform) -> dict[str, str]:
    """The environment kubernetes/airflow-values.yaml gives Airflow's pods, from the rendered overlay."""
    values = yaml.safe_load((REPO_ROOT / "kubernetes" / "airflow-values.yaml").read_text())
    config = platform.config("readmission-config")
    secret = platform.secret("readmission-secrets")
    env = dict(config)
    for item in yaml.safe_load(values["extraEnv"]):
        env[item["name"]] = item.get("value") or config[item["valueFrom"]["configMapKeyRef"]["key"]]
    for item in values["secret"]:
        env[item["envName"]] = secret[item["secretKey"]]
    for item in values.get("env", []):
        env[item["name"]] = str(item["value"])
    # A short run: one candidate family, no retries.
    env.update(TRAIN_CANDIDATES="logistic", PIPELINE_RETRIES="0", BATCH_SIZE="15000")
    return env


@pytest.fixture(scope="module")
def champion(platform: kube.Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the DAG once in the airflow image (2 batches), against the pods; the champion it made."""
    env_file = tmp_path_factory.mktemp("airflow") / "airflow.env"
    env_file.write_text(as_env_file(airflow_env(platform)))
    env_file.chmod(0o600)
    conf = json.dumps({"batches": 2})
    result = podman.run_to_end(
        # Its logs volume (the chart mounts one on /opt/airflow/logs).
        "airflow", "--env-file", str(env_file), "--tmpfs", "/opt/airflow/logs:rw,mode=1777",
        command=("sh", "-c", f"airflow db migrate && airflow dags test mlops_diabetes_pipeline --conf '{conf}'"),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    config, secret = platform.config("readmission-config"), platform.secret("readmission-secrets")
    auth = (config["MLFLOW_AUTH_ADMIN_USERNAME"], secret["MLFLOW_AUTH_ADMIN_PASSWORD"])
    mlflow_url = config["MLFLOW_TRACKING_URI"]
    name = config["MODEL_NAME"]
    answer = httpx.get(
        f"{mlflow_url}/api/2.0/mlflow/registered-models/alias", params={"name": name, "alias": "champion"}, auth=auth
    )
    assert answer.status_code == 200, f"no champion after the run: {answer.text}\n{output[-4000:]}"
    return {"name": name, "version": answer.json()["model_version"]["version"], "tracking_uri": mlflow_url,
            "auth": auth}  # fmt: skip


def test_every_pod_passes_its_probes(platform: kube.Platform) -> None:
    for kind, name, container in [("StatefulSet", "mysql", "mysql"), ("Deployment", "mlflow", "mlflow"), *SERVICES]:
        for probe in ("readinessProbe", "livenessProbe"):
            if name == "inference-api" and probe == "readinessProbe":
                continue  # ready once a champion exists: test_the_api_pod_serves_the_champion
            assert kube.probe_passes(platform, kind, name, container, probe), f"{kind}/{name} {probe}"
    # Streamlit's own health endpoint answers through the pod's host port.
    assert httpx.get(f"http://127.0.0.1:{PORTS['streamlit']}/_stcore/health", timeout=5).text == "ok"


def test_the_api_pod_serves_the_champion_the_pipeline_made(
    champion: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.pyfunc

    # The API polls the registry (MODEL_POLL_SECONDS) and the DAG's last task asks it to reload.
    services.wait_until(services.http_ok(f"{API}/ready"), timeout=120, what="the inference API pod ready")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", champion["auth"][0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", champion["auth"][1])
    mlflow.set_tracking_uri(champion["tracking_uri"])
    pyfunc = mlflow.pyfunc.load_model(f"models:/{champion['name']}@champion")
    raw = read_raw_csv(REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz").tail(60)
    # Death and hospice discharges are not scored (422): the models give them no readmission risk.
    raw = raw[~raw["discharge_disposition_id"].isin(schema.NOT_READMITTABLE_DISCHARGE_IDS)]
    records = [{key: row[key] for key in schema.INPUT_COLUMNS} for row in to_records(raw)]
    expected = np.asarray(pyfunc.predict(pd.DataFrame(records, columns=list(schema.INPUT_COLUMNS))))[:, 1]
    for record, want in zip(records, expected, strict=True):
        answer = httpx.post(f"{API}/predict", json=record, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["readmission_risk"] == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert (body["model_name"], str(body["model_version"]), body["model_alias"]) == (
            champion["name"], champion["version"], "champion")  # fmt: skip


def test_the_prometheus_pod_scrapes_the_api_pod(champion: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/query"

    def api_up() -> bool:
        result = httpx.get(url, params={"query": 'up{job="inference-api"}'}, timeout=5).json()["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"

    services.wait_until(api_up, timeout=120, what="Prometheus scraping the inference API")
    rules = httpx.get(f"http://127.0.0.1:{PORTS['prometheus']}/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert rules, "the platform's rules (prometheus/rules) are loaded"


def test_the_locust_image_loads_the_api_pod_for_20_s_without_a_failure(champion: dict[str, Any]) -> None:
    result = podman.run_to_end(
        "locust", command=("--headless", "--users", "5", "--spawn-rate", "5", "--run-time", "20s", "--host", API,
                           "--only-summary"),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    aggregated = [line for line in output.splitlines() if line.strip().startswith("Aggregated")]
    assert aggregated, output[-4000:]
    requests, failures = aggregated[0].split()[1:3]
    assert int(requests) > 0
    assert failures.startswith("0("), aggregated[0]


def test_a_missing_secret_key_stops_the_render_naming_it(tmp_path: Path) -> None:
    env = secrets_env()
    del env["MLFLOW_API_PASSWORD"]
    with pytest.raises(kube.RenderError, match="MLFLOW_API_PASSWORD"):
        kube.render("podman", as_env_file(env), tmp_path / "no-key")
    with pytest.raises(kube.RenderError, match=r"secrets\.env"):
        kube.render("podman", None, tmp_path / "no-file")
