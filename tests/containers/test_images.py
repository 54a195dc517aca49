"""The application images, built on the Debian base and run as the manifests run them.

Read-only root filesystem, UID 10001, every capability dropped, only /tmp and the service's own
volume writable; the service answers its health check (the image's HEALTHCHECK, run by podman).
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.support import podman, services

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module", autouse=True)
def images() -> None:
    podman.build("data-api", "inference-api")


def assert_locked_down(container: str, state_dir: str) -> None:
    assert podman.podman("exec", container, "id", "-u").stdout.strip() == "10001"
    root = podman.podman("exec", container, "touch", "/opt/venv/written", check=False)
    assert root.returncode != 0
    assert "Read-only file system" in root.stderr
    for writable in ("/tmp", state_dir):
        podman.podman("exec", container, "touch", f"{writable}/written")
    assert podman.podman("healthcheck", "run", container, check=False).returncode == 0, podman.logs(container)


def test_data_api_image_serves_batches_read_only_as_uid_10001() -> None:
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        podman.volume() as state,
        podman.container(
            "data-api", "-e", f"DATA_API_PORT={port}", "-e", "DATA_API_HOST=127.0.0.1",
            "-e", f"DATA_API_ADMIN_TOKEN={secrets.token_hex(24)}", "-e", "BATCH_SIZE=1000",
            "-v", f"{state}:/var/lib/data-api",
        ) as container,
    ):  # fmt: skip
        services.wait_until(services.http_ok(url + "/health"), timeout=120, what="data-api container")
        batch = httpx.get(url + "/get_data", timeout=30).raise_for_status().json()
        assert batch["batch_number"] == 1
        assert len(batch["data"]) == 1000
        assert_locked_down(container, "/var/lib/data-api")
        # The cycle's state lives on the volume (and only there).
        listing = podman.podman("exec", container, "ls", "/var/lib/data-api").stdout
        assert listing.strip(), "no state written to DATA_API_STATE_DIR"


def test_inference_api_image_starts_without_a_model_read_only_as_uid_10001() -> None:
    port = services.free_port()
    url = f"http://127.0.0.1:{port}"
    with (
        podman.volume() as cache,
        podman.container(
            "inference-api", "-e", f"API_PORT={port}", "-e", "API_HOST=127.0.0.1",
            "-e", f"API_ADMIN_TOKEN={secrets.token_hex(24)}",
            # No MLflow server: alive, not ready.
            "-e", f"MLFLOW_TRACKING_URI=http://127.0.0.1:{services.free_port()}",
            "-v", f"{cache}:/var/cache/readmission",
        ) as container,
    ):  # fmt: skip
        services.wait_until(services.http_ok(url + "/health"), timeout=180, what="inference-api container")
        assert httpx.get(url + "/health", timeout=5).status_code == 200
        assert httpx.get(url + "/ready", timeout=5).status_code == 503
        assert_locked_down(container, "/var/cache/readmission")


def test_data_api_image_refuses_to_start_without_its_admin_token() -> None:
    result = podman.run_to_end("data-api", "-e", f"DATA_API_PORT={services.free_port()}")
    assert result.returncode != 0
    assert "DATA_API_ADMIN_TOKEN" in result.stdout + result.stderr
