"""Every Dockerfile: non-root, health-checked (or probed by Kubernetes), no baked-in secrets; the
application images multi-stage from uv.lock on a pinned ``BASE_IMAGE``.

The images are built and run by tests/containers (`make test-containers`). Here, statically, and
mlflow/Dockerfile's command run as written (same MLflow version, from .venv) with the image's
environment, to show that the server really takes its configuration from those variables.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import REPO_ROOT, services

SKIP_DIRS = {".venv", ".git", ".tools", "node_modules", "var"}


def dockerfiles() -> list[Path]:
    found = []
    for path in [*REPO_ROOT.rglob("*Dockerfile*"), *REPO_ROOT.rglob("Containerfile")]:
        named_like_one = path.name in {"Dockerfile", "Containerfile"} or path.name.startswith("Dockerfile_")
        if path.is_file() and named_like_one and not SKIP_DIRS & set(path.relative_to(REPO_ROOT).parts):
            found.append(path)
    return sorted(found)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    starts = [i for i, (keyword, _) in enumerate(steps) if keyword == "FROM"]
    assert starts, f"{path}: no FROM"
    return steps[starts[-1] :]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


def probed_images() -> set[str]:
    """Dockerfiles (repo-relative) whose image Kubernetes probes (compose maps Dockerfile -> image name)."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
    k8s_images = set()
    for path in (REPO_ROOT / "kubernetes" / "base").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    if container.get("livenessProbe") and container.get("readinessProbe"):
                        k8s_images.add(container["image"].split(":")[0])
    probed = set()
    for service in compose["services"].values():
        if "build" in service:
            repo = re.sub(r"^\$\{[^}]*\}/", "readmission/", service["image"]).split(":")[0]
            if repo in k8s_images:
                probed.add(str(Path(service["build"]["context"]) / service["build"].get("dockerfile", "Dockerfile")))
    return probed


MLFLOW_DOCKERFILE = REPO_ROOT / "mlflow" / "Dockerfile"
# One image per deployable (the names docker-compose.yaml, the manifests and containers/ use).
APPLICATION_IMAGES = {
    "data-api": "ec2_api/Dockerfile",
    "inference-api": "fastapi/Dockerfile",
    "streamlit": "streamlit/Dockerfile",
    "mlflow": "mlflow/Dockerfile",
    "airflow": "dags/Dockerfile",
    "locust": "locust/Dockerfile",
}


def test_dockerfiles_are_found() -> None:
    found = {str(path.relative_to(REPO_ROOT)) for path in dockerfiles()}
    assert set(APPLICATION_IMAGES.values()) <= found
    assert {"containers/mariadb/Containerfile", "containers/s3/Containerfile"} <= found


@pytest.mark.unit
@pytest.mark.parametrize("relative", sorted(APPLICATION_IMAGES.values()))
def test_application_image_is_multi_stage_from_the_lock_on_a_pinned_base(relative: str) -> None:
    path = REPO_ROOT / relative
    steps = instructions(path)
    (base_arg,) = [rest for keyword, rest in steps if keyword == "ARG" and rest.startswith("BASE_IMAGE=")]
    default = base_arg.partition("=")[2]
    # The official slim Python 3.11 on bookworm, pinned: an exact patch tag or a digest.
    assert re.fullmatch(r"docker\.io/library/python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", default), default
    froms = [rest for keyword, rest in steps if keyword == "FROM"]
    assert len(froms) >= 2, f"{relative}: multi-stage (build tools stay out of the runtime image)"
    assert all(rest.split()[0] == "${BASE_IMAGE}" for rest in froms), f"{relative}: every stage FROM ${{BASE_IMAGE}}"
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN")
    assert "uv sync --frozen" in runs, f"{relative}: install from uv.lock with `uv sync --frozen`"
    copies_from = [rest for keyword, rest in steps if keyword == "COPY" and "--from=" in rest]
    assert all(re.match(r"--from=build\s", rest) for rest in copies_from), "COPY --from= a registry image fails here"
    final = final_stage(path)
    final_runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert not re.search(r"\b(uv|pip|apt-get install|gcc)\b", final_runs), f"{relative}: installs in the final stage"
    assert [rest for keyword, rest in final if keyword == "USER"][-1].split(":")[0] == "10001"
    assert "--from=build /opt/venv /opt/venv" in " ".join(rest for keyword, rest in final if keyword == "COPY")


@pytest.mark.unit
@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_dockerfile_runs_as_non_root_and_is_health_checked(path: Path) -> None:
    stage = final_stage(path)
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, f"{path.name}: the final stage sets no USER (runs as root)"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"{path.name}: USER {users[-1]}"
    has_healthcheck = any(keyword == "HEALTHCHECK" and rest != "NONE" for keyword, rest in stage)
    relative = str(path.relative_to(REPO_ROOT))
    assert has_healthcheck or relative in probed_images(), f"{relative}: no HEALTHCHECK and no Kubernetes probes"
    for keyword, rest in stage:
        if keyword in {"ENV", "ARG"}:
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY", key):
                    assert not value, f"{path.name}: {keyword} {key} has a baked-in value"


@pytest.mark.unit
def test_mlflow_dockerfile_contract() -> None:
    text = MLFLOW_DOCKERFILE.read_text()
    # MLflow (+ its basic-auth app), PyMySQL and boto3 at the lock's versions: the `mlflow-server` extra.
    assert "--extra mlflow-server" in text
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"mlflow[auth]==3.17.2", "pymysql>=1.1", "boto3>=1.34"} <= set(extras["mlflow-server"])
    env = env_of(final_stage(MLFLOW_DOCKERFILE))
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["MLFLOW_WORKERS"].isdigit()
    assert "mysql" not in env["MLFLOW_BACKEND_STORE_URI"], "no database credentials in the image"


@pytest.mark.integration
def test_mlflow_image_command_takes_its_configuration_from_the_environment(tmp_path: Path) -> None:
    """Run the image's CMD as written (host forced to loopback) with the image's ENV plus overrides."""
    stage = final_stage(MLFLOW_DOCKERFILE)
    (cmd,) = [json.loads(rest) for keyword, rest in stage if keyword == "CMD"]
    assert cmd[:2] == ["sh", "-c"]
    script = cmd[2].replace("--host 0.0.0.0", "--host 127.0.0.1")
    assert "--host 127.0.0.1" in script
    port = services.free_port()
    backend = tmp_path / "backend.db"
    env = {
        **env_of(stage),
        "PATH": f"{services.VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "MLFLOW_PORT": str(port),
        "MLFLOW_WORKERS": "1",
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{backend}",
        "MLFLOW_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
        "MLFLOW_SERVER_ALLOWED_HOSTS": "mlflow,mlflow:5000,127.0.0.1,127.0.0.1:*",
    }
    url = f"http://127.0.0.1:{port}"
    assert shutil.which("sh")
    with services.running(
        ["sh", "-c", script],
        ready=services.http_ok(url + "/health"),
        what="mlflow server (mlflow/Dockerfile CMD)",
        timeout=180,
        env=env,
        log_path=tmp_path / "mlflow.log",
    ):
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        assert backend.exists(), "MLFLOW_BACKEND_STORE_URI was not used"
        created = httpx.post(
            url + "/api/2.0/mlflow/experiments/create", json={"name": "deploy-check"}, timeout=10
        ).raise_for_status()
        assert created.json()["experiment_id"]
        # MLFLOW_SERVER_ALLOWED_HOSTS: the compose service name is accepted, anything else refused
        # (/health is exempt from the check, so ask the REST API).
        search = url + "/api/2.0/mlflow/experiments/search?max_results=1"
        assert httpx.get(search, headers={"Host": "mlflow:5000"}, timeout=5).status_code == 200
        assert httpx.get(search, headers={"Host": "evil.example"}, timeout=5).status_code == 403
