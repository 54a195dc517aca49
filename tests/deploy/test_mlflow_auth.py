"""MLflow's basic-auth app as Kubernetes runs it, against a real server (MariaDB backend, S3 artifacts).

The server reads the auth configuration of the rendered ConfigMap (its SQLite user store moved
from the pod's volume to a temporary folder) and the users come from the Job's script
(kubernetes/base/scripts/mlflow_users.py), run here as the Job runs it. Then, with each service's own
credentials: the pipeline logs, registers and promotes a model; the inference API loads the
champion (artifacts through the server, no object-store key) but cannot register a version or
move ``champion``; a user without grants and an anonymous client get nothing.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.support import services
from tests.support.kustomize import KUBE_DIR

pytestmark = pytest.mark.integration

SCRIPTS = KUBE_DIR / "base" / "scripts"
MODEL_NAME = "k8s-auth-model"
MODEL_NAME_30D = "k8s-auth-model-30d"
EXPERIMENT = "k8s-auth-experiment"


@dataclass(frozen=True)
class AuthServer:
    url: str
    admin: tuple[str, str]
    pipeline: tuple[str, str]
    api: tuple[str, str]


def run_script(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def users_env(server_url: str, admin: tuple[str, str], pipeline: tuple[str, str], api: tuple[str, str]) -> dict:
    return {
        "MLFLOW_TRACKING_URI": server_url,
        "MLFLOW_REGISTRY_URI": server_url,  # not one an earlier test left in the environment
        "MLFLOW_TRACKING_USERNAME": admin[0],
        "MLFLOW_TRACKING_PASSWORD": admin[1],
        "MLFLOW_PIPELINE_USERNAME": pipeline[0],
        "MLFLOW_PIPELINE_PASSWORD": pipeline[1],
        "MLFLOW_API_USERNAME": api[0],
        "MLFLOW_API_PASSWORD": api[1],
        "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
        "MODEL_NAME": MODEL_NAME,
        "MODEL_NAME_30D": MODEL_NAME_30D,
    }


@pytest.fixture(scope="module")
def auth_server(
    mariadb: services.MariaDB,
    s3: services.S3Server,
    k8s_renders: dict[str, list[dict]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AuthServer]:
    from readmission.supervisor import mlflow_server_command

    work = tmp_path_factory.mktemp("mlflow-auth")
    (configmap,) = [
        doc
        for doc in k8s_renders["local"]
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("mlflow-auth-config-")
    ]
    config = configparser.ConfigParser()
    config.read_string(configmap["data"]["basic_auth.ini"])
    assert config["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    assert config["mlflow"]["database_uri"] == "sqlite:////var/lib/mlflow-auth/basic_auth.db"
    config["mlflow"]["database_uri"] = f"sqlite:///{work / 'basic_auth.db'}"
    ini = work / "basic_auth.ini"
    with ini.open("w") as handle:
        config.write(handle)
    backend = mariadb.fresh_database("mlflow_auth")
    admin = ("admin", secrets.token_urlsafe(16))
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [*mlflow_server_command(backend, f"s3://{s3.create_bucket()}", port), "--app-name", "basic-auth"]
    env = {
        **services.S3_TEST_ENV,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": admin[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint_url,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{services.VENV_BIN}:{os.environ.get('PATH', '')}",
    }
    with services.running(
        cmd,
        ready=services.http_ok(url + "/health"),
        what="mlflow server --app-name basic-auth",
        timeout=240,
        env=env,
        log_path=work / "mlflow.log",
    ):
        yield AuthServer(
            url, admin, ("pipeline", secrets.token_urlsafe(16)), ("inference-api", secrets.token_urlsafe(16))
        )


@contextmanager
def as_user(monkeypatch: pytest.MonkeyPatch, server: AuthServer, user: tuple[str, str] | None) -> Iterator[None]:
    """MLflow clients read the credentials from the environment at every request.

    The registry URI is set too: earlier tests in the session may have pointed MLflow's
    process-wide registry URI at another server.
    """
    import mlflow

    previous_registry = mlflow.get_registry_uri()
    mlflow.set_registry_uri(server.url)
    with monkeypatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", server.url)
        patch.setenv("MLFLOW_REGISTRY_URI", server.url)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
            patch.delenv(name, raising=False)  # the API has no object-store key
        if user is None:
            patch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
            patch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        else:
            patch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
            patch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])
        try:
            yield
        finally:
            mlflow.set_registry_uri(previous_registry)


@pytest.fixture(scope="module")
def provisioned(auth_server: AuthServer) -> AuthServer:
    env = users_env(auth_server.url, auth_server.admin, auth_server.pipeline, auth_server.api)
    result = run_script("mlflow_users.py", env)  # as the Job runs it
    assert result.returncode == 0, result.stderr
    assert "created user pipeline" in result.stderr
    assert f"inference-api: READ on registered_model {MODEL_NAME}\n" in result.stderr
    assert f"inference-api: READ on registered_model {MODEL_NAME_30D}\n" in result.stderr  # both outcomes' models
    # Idempotent (the Job runs again on every deploy): a second run, in this process, re-keys.
    spec = importlib.util.spec_from_file_location("mlflow_users", SCRIPTS / "mlflow_users.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import mlflow

    previous_registry = mlflow.get_registry_uri()
    mlflow.set_registry_uri(auth_server.url)  # earlier tests may have pointed it at another server
    with pytest.MonkeyPatch.context() as patch:  # MLflow reads the credentials from the environment
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            module.provision(os.environ)
        finally:
            mlflow.set_registry_uri(previous_registry)
    return auth_server


def test_the_users_job_refuses_missing_settings_naming_them(auth_server: AuthServer) -> None:
    env = users_env(auth_server.url, auth_server.admin, auth_server.pipeline, auth_server.api)
    env["MLFLOW_API_PASSWORD"] = ""
    result = run_script("mlflow_users.py", env)
    assert result.returncode == 2
    assert "MLFLOW_API_PASSWORD" in result.stderr


def test_anonymous_requests_are_refused(auth_server: AuthServer) -> None:
    assert httpx.get(auth_server.url + "/health", timeout=10).status_code == 200  # probes need no user
    response = httpx.get(auth_server.url + "/api/2.0/mlflow/registered-models/search", timeout=10)
    assert response.status_code == 401


def test_pipeline_writes_and_the_api_only_reads(provisioned: AuthServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    import numpy as np
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    with as_user(monkeypatch, provisioned, provisioned.pipeline):
        mlflow.set_tracking_uri(provisioned.url)
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=MODEL_NAME, pip_requirements=["scikit-learn"]
            )
        client = MlflowClient(provisioned.url)
        version = info.registered_model_version
        client.set_registered_model_alias(MODEL_NAME, "champion", version)

    with as_user(monkeypatch, provisioned, provisioned.api):
        loaded = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}@champion")
        assert list(loaded.predict(features)) == [0, 0, 1, 1]
        client = MlflowClient(provisioned.url)
        assert client.get_registered_model(MODEL_NAME_30D).name == MODEL_NAME_30D  # the 30-day model: READ too
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
            client.set_registered_model_alias(MODEL_NAME, "champion", "1")
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
            client.create_model_version(MODEL_NAME, source=f"runs:/{info.run_id}/model", run_id=info.run_id)
        with pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"):
            client.create_run(client.get_experiment_by_name(EXPERIMENT).experiment_id)

    with (
        as_user(monkeypatch, provisioned, ("inference-api", "wrong-password")),
        pytest.raises(MlflowException, match=r"401|Unauthorized|UNAUTHENTICATED"),
    ):
        MlflowClient(provisioned.url).get_registered_model(MODEL_NAME)


def test_a_user_without_grants_sees_nothing(provisioned: AuthServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    stranger = ("stranger", secrets.token_urlsafe(16))
    with as_user(monkeypatch, provisioned, provisioned.admin):
        AuthServiceClient(provisioned.url).create_user(*stranger)
    with (
        as_user(monkeypatch, provisioned, stranger),
        pytest.raises(MlflowException, match=r"PERMISSION_DENIED|Permission denied"),
    ):
        MlflowClient(provisioned.url).get_registered_model(MODEL_NAME)
