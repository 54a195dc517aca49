"""podman for the container tests: the project's settings, image builds, throwaway containers.

Every call passes ``CONTAINERS_CONF=containers/containers.conf`` (runc, cgroupfs, ulimits: see
DESIGN.md "Containers on these machines"). Images are built by ``containers/build-images.sh`` on
the Debian-built base; a missing tool raises with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import REPO_ROOT

CONTAINERS = REPO_ROOT / "containers"
ENV = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS / "containers.conf")}
BASE_IMAGE = "localhost/readmission/debian-python:bookworm"
APT = "apt-get install -y podman runc catatonit uidmap fuse-overlayfs slirp4netns mmdebstrap podman-compose"


def require_tools() -> None:
    missing = [tool for tool in ("podman", "runc", "catatonit", "mmdebstrap") if not shutil.which(tool)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found: install them with `{APT}`")


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def build(*names: str) -> None:
    """Build the named images (readmission/<name>:latest); cached layers make a rebuild quick."""
    require_tools()
    result = subprocess.run(
        [str(CONTAINERS / "build-images.sh"), *names], env=ENV, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"containers/build-images.sh {' '.join(names)} failed:\n{result.stderr[-4000:]}")


def image(name: str) -> str:
    return f"localhost/readmission/{name}:latest"


def logs(container: str) -> str:
    result = podman("logs", container, check=False)
    return result.stdout + result.stderr


@contextmanager
def container(name: str, *args: str, command: tuple[str, ...] = ()) -> Iterator[str]:
    """Run image ``name`` detached, as the manifests do: host network, read-only root, a /tmp tmpfs.

    ``args`` adds podman run options (``-e``, ``-v``). The container and its anonymous volumes
    are removed at exit.
    """
    container_name = f"test-{name}-{uuid.uuid4().hex[:8]}"
    podman(
        "run", "--detach", "--name", container_name, "--network", "host",
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=256m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *args, image(name), *command,
    )  # fmt: skip
    try:
        yield container_name
    finally:
        podman("rm", "--force", "--volumes", container_name, check=False)


@contextmanager
def volume() -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    podman("volume", "create", name)
    try:
        yield name
    finally:
        podman("volume", "rm", "--force", name, check=False)


def image_size(name: str) -> int:
    return int(podman("image", "inspect", "--format", "{{.Size}}", image(name)).stdout.strip())


def run_to_end(name: str, *args: str, command: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run image ``name`` in the foreground (host network, read-only root, /tmp tmpfs) and remove it."""
    return podman(
        "run", "--rm", "--network", "host",
        "--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=512m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        *args, image(name), *command,
        check=False,
    )  # fmt: skip


def repo_path(*parts: str) -> Path:
    return REPO_ROOT.joinpath(*parts)
