"""docker-compose.yaml, checked statically (no Docker engine here; `docker compose` is not installed).

The interpolation rules of Compose (``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``,
``$$``) are applied by :func:`interpolate` so that a missing secret is proved to stop
the stack, and a complete throwaway env file to resolve every value.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT

pytestmark = pytest.mark.unit

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = REPO_ROOT / "compose.env.example"
REQUIRED_SERVICES = {
    "mysql",
    "minio",
    "minio-init",
    "mlflow",
    "mlflow-users",
    "data-api",
    "airflow",
    "inference-api",
    "streamlit",
    "prometheus",
    "grafana",
    "locust",
    "locust-worker",
}
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY")
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariableError(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        current = env.get(name)
        unset_or_empty = not current if operator and operator.startswith(":") else current is None
        if operator in (":?", "?") and unset_or_empty:
            raise MissingVariableError(f"{name}: {argument}")
        if operator in (":-", "-") and unset_or_empty:
            return str(interpolate(argument, env))
        return current or ""

    return _VAR.sub(substitute, value)


def example_env() -> dict[str, str]:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, example_env())


def test_every_required_service_is_there(raw: dict[str, Any]) -> None:
    assert set(raw["services"]) == REQUIRED_SERVICES


def test_compose_env_example_resolves_every_variable(compose: dict[str, Any]) -> None:
    assert "${" not in yaml.safe_dump(compose)


def test_missing_secrets_stop_the_stack(raw: dict[str, Any]) -> None:
    env = example_env()
    secrets = [name for name in env if any(word in name for word in SECRET_WORDS)]
    assert {"MYSQL_ROOT_PASSWORD", "MYSQL_PIPELINE_PASSWORD", "MINIO_ROOT_PASSWORD", "API_ADMIN_TOKEN"} <= set(secrets)
    for name in secrets:
        partial = {key: value for key, value in env.items() if key != name}
        with pytest.raises(MissingVariableError, match=name):
            interpolate(raw, partial)


def test_no_plaintext_secrets(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: use the mapping form of environment"
        for key, value in environment.items():
            if key.endswith("_FILE"):  # a path (e.g. where Airflow keeps its generated passwords)
                continue
            if any(word in key for word in SECRET_WORDS) or "URI" in key or "URL" in key:
                text = str(value)
                # A secret is either a required variable or built from one; never a literal.
                if any(word in key for word in SECRET_WORDS):
                    assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", text), f"{name}.{key} = {text!r}"
                if re.search(r"://[^/@]+:[^/@]+@", text):
                    assert re.search(r"://[^/@]+:\$\{[A-Z_]+:\?[^}]*\}@", text), f"{name}.{key}: literal password"


def test_services_have_healthchecks_restart_and_loopback_ports(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    jobs = {
        dependency
        for service in raw["services"].values()
        for dependency, spec in service.get("depends_on", {}).items()
        if spec.get("condition") == "service_completed_successfully"
    }
    assert jobs == {"minio-init", "mlflow-users"}
    for name, service in compose["services"].items():
        if name in jobs:
            assert service["restart"] == "on-failure"
            continue
        assert service.get("restart") in {"unless-stopped", "always"}, name
        if name == "locust-worker":  # serves nothing: the master lists the workers connected
            assert "ports" not in service
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is not bound to loopback"


def test_depends_on_use_conditions(raw: dict[str, Any]) -> None:
    healthy = {name for name, service in raw["services"].items() if "healthcheck" in service}
    for name, service in raw["services"].items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends_on.items():
            assert dependency in raw["services"], f"{name} -> {dependency}"
            if spec["condition"] == "service_healthy":
                assert dependency in healthy, f"{name} waits for {dependency}, which has no healthcheck"
    assert raw["services"]["mlflow"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert raw["services"]["inference-api"]["depends_on"]["mlflow"]["condition"] == "service_healthy"


def test_named_volumes_and_bind_mounts_exist(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    declared = set(raw.get("volumes", {}))
    used = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
                used.add(source)
    assert declared == used
    for stateful in ("mysql", "minio", "prometheus", "grafana"):
        assert any(not v.startswith(".") for v in compose["services"][stateful]["volumes"]), stateful


def test_builds_point_at_dockerfiles_that_exist(compose: dict[str, Any]) -> None:
    missing = []
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = REPO_ROOT / service["build"]["context"]
            dockerfile = context / service["build"].get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                missing.append(f"{name}: {dockerfile.relative_to(REPO_ROOT)}")
        else:
            image = service["image"]
            assert ":" in image, f"{name}: pin the image tag ({image})"
            assert not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
    assert missing == [], "Dockerfiles referenced by docker-compose.yaml are missing"


def test_mysql_init_creates_the_three_databases(compose: dict[str, Any]) -> None:
    sql = (REPO_ROOT / "mysql" / "init" / "01-databases.sql").read_text()
    for database in ("raw_data_db", "clean_data_db", "mlflow_db", "airflow_db"):
        assert f"CREATE DATABASE IF NOT EXISTS {database}" in sql
    grants = REPO_ROOT / "mysql" / "init" / "02-grants.sh"
    # Sourced by the image's entrypoint (not executed) so it can use docker_process_sql.
    assert not grants.stat().st_mode & 0o111
    assert "PASSWORD" not in grants.read_text().upper().replace("NO PASSWORD", "")
    urls = [
        value
        for service in compose["services"].values()
        for key, value in service.get("environment", {}).items()
        if key.endswith(("DATABASE_URL", "BACKEND_STORE_URI", "SQL_ALCHEMY_CONN"))
    ]
    assert {url.rsplit("/", 1)[1] for url in urls} == {"raw_data_db", "clean_data_db", "mlflow_db", "airflow_db"}


def test_services_reach_each_other_by_service_name(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api = services["inference-api"]["environment"]
    assert api["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert api["API_HOST"] == "0.0.0.0"
    assert services["streamlit"]["environment"]["API_URL"] == "http://inference-api:8000"
    assert services["airflow"]["environment"]["DATA_API_URL"] == "http://data-api:5001"
    mlflow = services["mlflow"]["environment"]
    assert mlflow["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "mlflow:5000" in mlflow["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")


def test_interpolation_rules() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("${A}-${B:-x}-${EMPTY:-d}-$$HOME", env) == "1-x-d-$HOME"
    with pytest.raises(MissingVariableError, match="EMPTY: no"):
        interpolate("${EMPTY:?no}", env)


PODMAN_COMPOSE = Path(sys.executable).parent / "podman-compose"


def podman_compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    """`podman-compose config`: a real Compose implementation renders the file."""
    return subprocess.run(
        [str(PODMAN_COMPOSE), "--profile", "load", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True, text=True, check=False, cwd=REPO_ROOT,
    )  # fmt: skip


def test_podman_compose_renders_the_platform_locked_down(tmp_path: Path) -> None:
    result = podman_compose_config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == REQUIRED_SERVICES
    built = {name: service for name, service in rendered["services"].items() if "build" in service}
    assert set(built) == {
        "mlflow", "mlflow-users", "data-api", "airflow", "inference-api", "streamlit", "locust", "locust-worker"
    }  # fmt: skip
    for name, service in built.items():
        assert service["image"] == f"readmission/{name.removesuffix('-users').removesuffix('-worker')}:latest"
        assert (REPO_ROOT / service["build"]["dockerfile"]).is_file()
        assert service["read_only"] is True, name
        assert "/tmp" in service["tmpfs"], name
        assert service["cap_drop"] == ["ALL"], name


def test_podman_compose_refuses_a_missing_secret_naming_it(tmp_path: Path) -> None:
    env_file = tmp_path / "partial.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_env().items() if k != "API_ADMIN_TOKEN"))
    result = podman_compose_config(env_file)
    assert result.returncode != 0
    assert "API_ADMIN_TOKEN" in result.stderr


def test_mlflow_needs_a_user_and_each_service_has_its_own(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    assert "--app-name basic-auth" in " ".join(compose["services"]["mlflow"]["command"])
    password = {name: raw["services"][name]["environment"]["MLFLOW_TRACKING_PASSWORD"].split(":")[0] for name in (
        "mlflow-users", "airflow", "inference-api")}  # fmt: skip
    assert password == {
        "mlflow-users": "${MLFLOW_AUTH_ADMIN_PASSWORD",  # only the job that creates the users is the admin
        "airflow": "${MLFLOW_PIPELINE_PASSWORD",
        "inference-api": "${MLFLOW_API_PASSWORD",
    }
    users = compose["services"]["mlflow-users"]["environment"]
    assert (
        compose["services"]["airflow"]["environment"]["MLFLOW_TRACKING_USERNAME"] == users["MLFLOW_PIPELINE_USERNAME"]
    )
    assert (
        compose["services"]["inference-api"]["environment"]["MLFLOW_TRACKING_USERNAME"] == users["MLFLOW_API_USERNAME"]
    )
    assert users["MODEL_NAME_30D"] == compose["services"]["inference-api"]["environment"]["MODEL_NAME_30D"]


def test_locust_runs_distributed(compose: dict[str, Any]) -> None:
    master, worker = compose["services"]["locust"], compose["services"]["locust-worker"]
    assert "--master" in master["command"]
    assert worker["command"][:3] == ["--worker", "--master-host", "locust"]
    assert worker["depends_on"]["locust"]["condition"] == "service_healthy"
    assert "ports" not in worker  # scalable: `--scale locust-worker=N` needs no host port


def test_least_privilege(raw: dict[str, Any], compose: dict[str, Any]) -> None:
    services = compose["services"]
    api = services["inference-api"]["environment"]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(api)  # artifacts come through MLflow
    assert "--web.enable-lifecycle" not in services["prometheus"]["command"]
    users = {}
    for service in raw["services"].values():
        for key, value in service.get("environment", {}).items():
            if key.endswith(("DATABASE_URL", "BACKEND_STORE_URI", "SQL_ALCHEMY_CONN")):
                users.setdefault(str(value).rsplit("/", 1)[1], set()).add(str(value).split("//")[1].split(":")[0])
    # one user per service: the pipeline's two databases share its user, nobody else's
    assert users == {
        "raw_data_db": {"${MYSQL_PIPELINE_USER"},
        "clean_data_db": {"${MYSQL_PIPELINE_USER"},
        "mlflow_db": {"${MYSQL_MLFLOW_USER"},
        "airflow_db": {"${MYSQL_AIRFLOW_USER"},
    }
