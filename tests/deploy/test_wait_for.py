"""The init containers' wait: a missing setting fails at once naming it; a late dependency is waited for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.support import services
from tests.support.kustomize import KUBE_DIR

pytestmark = pytest.mark.unit

SCRIPT = KUBE_DIR / "base" / "scripts" / "wait_for.py"


def start(env: dict[str, str], *names: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *names],
        env={**os.environ, "WAIT_RETRY_SECONDS": "0.2", **env},
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "MLFLOW_BACKEND_STORE_URI is not set"),
        ("", "MLFLOW_BACKEND_STORE_URI is not set"),
        ("mysql+pymysql:///mlflow_db", "MLFLOW_BACKEND_STORE_URI: expected a URL with a host"),
    ],
)
def test_a_missing_setting_fails_at_once_naming_it(value: str | None, message: str) -> None:
    env = {} if value is None else {"MLFLOW_BACKEND_STORE_URI": value}
    process = start(env, "MLFLOW_BACKEND_STORE_URI")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert message in stderr


def test_plain_settings_must_be_set_and_nothing_is_waited_for() -> None:
    process = start(
        {"API_ADMIN_TOKEN": "x" * 32, "MLFLOW_API_PASSWORD": " "}, "--set", "API_ADMIN_TOKEN", "MLFLOW_API_PASSWORD"
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "not set (or empty): MLFLOW_API_PASSWORD" in stderr
    process = start(
        {"API_ADMIN_TOKEN": "x" * 32, "MLFLOW_API_PASSWORD": "p"}, "--set", "API_ADMIN_TOKEN", "MLFLOW_API_PASSWORD"
    )
    assert process.wait(timeout=60) == 0


def test_waits_for_a_late_dependency_then_succeeds_without_leaking_credentials() -> None:
    port = services.free_port()
    url = f"mysql+pymysql://mlflow:s3cret-value@127.0.0.1:{port}/mlflow_db"
    process = start({"MLFLOW_BACKEND_STORE_URI": url}, "MLFLOW_BACKEND_STORE_URI")
    time.sleep(1.0)
    assert process.poll() is None, "it must wait, not exit, while the dependency is down"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert f"waiting for 127.0.0.1:{port} (MLFLOW_BACKEND_STORE_URI)" in stderr
    assert "s3cret-value" not in stderr
