"""Render the kustomize overlays with the real kubectl from a private copy of the repository's files.

The copy holds the folders the manifests read (kubernetes/ plus the rules, dashboards, locustfile
and MySQL init they turn into ConfigMaps) and a throwaway ``secrets.env`` per overlay, so a real
``secrets.env`` in the checkout is never read.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support import REPO_ROOT

KUBE_DIR = REPO_ROOT / "kubernetes"
SOURCES = ("kubernetes", "grafana", "prometheus", "locust", "mysql")
SECRET_OVERLAYS = ("local", "production")  # the overlays with their own secretGenerator
POD_KINDS = ("Deployment", "StatefulSet", "Job")
# The cluster overlays. (overlays/podman, for one host, is rendered and run by tests/containers.)
OVERLAYS = ("local", "production", "production-in-cluster")


def example_secrets() -> dict[str, str]:
    lines = (KUBE_DIR / "secrets.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def copy_sources(tmp_path: Path, secrets: dict[str, str] | None = None) -> Path:
    """A copy of the rendered folders, with ``secrets`` (default: the example) as every overlay's secrets.env."""
    root = tmp_path / "repo"
    for name in SOURCES:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    values = example_secrets() if secrets is None else secrets
    for overlay in SECRET_OVERLAYS:
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        (root / "kubernetes" / "overlays" / overlay / "secrets.env").write_text(text)
    return root


def kustomize(directory: Path) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: `apt-get install -y kubernetes-client` (.ci/run installs it)"
    return subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)


def render(root: Path, overlay: str) -> list[dict[str, Any]]:
    result = kustomize(root / "kubernetes" / "overlays" / overlay)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_templates(docs: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(workload, pod template) for every Deployment, StatefulSet and Job."""
    for doc in docs:
        if doc["kind"] in POD_KINDS:
            yield doc, doc["spec"]["template"]


def containers(docs: list[dict], *, init: bool = True) -> Iterator[tuple[dict, dict]]:
    """(workload, container) for every container, init containers included unless ``init=False``."""
    for workload, template in pod_templates(docs):
        spec = template["spec"]
        for container in [*(spec.get("initContainers", []) if init else []), *spec["containers"]]:
            yield workload, container


def secret_keys(container: dict) -> set[str]:
    return {
        env["valueFrom"]["secretKeyRef"]["key"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
