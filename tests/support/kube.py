"""Render a kustomize overlay and run its workloads as pods with `podman kube play --network host`.

The rendered manifests are played as they are, except for what podman 4.3 cannot play:
  - Secrets become podman secrets (its kube play stores a Secret in a form its own
    secretKeyRef lookup then rejects);
  - a StatefulSet becomes a Deployment with PersistentVolumeClaims for its volumeClaimTemplates,
    and a Job becomes a Pod (neither kind is supported);
  - pods restart OnFailure instead of Always (with Always it re-runs init containers forever);
  - with host networking a container's `ports` would become port mappings, which podman refuses:
    they are dropped, and probes that name a port get its number;
  - `$(VAR)` references in command, args and env values are expanded as the kubelet does.
Services, NetworkPolicies, RBAC, HPA and PDB have no meaning on one host and are not played.
Workloads are played one at a time, in the order given, each with every ConfigMap.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import REPO_ROOT, podman

# What the overlays reference outside kubernetes/ (rules, dashboards, locustfile, mysql/init).
RENDERED_TREES = ("kubernetes", "prometheus", "grafana", "locust", "mysql")


def render(overlay: str, secrets_env: str | None, workdir: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of a copy of the repository's manifests, with this secrets.env (None: none).

    ``overlay`` is a folder of kubernetes/overlays (``podman``: the one-host overlay).
    """
    for tree in RENDERED_TREES:
        shutil.copytree(REPO_ROOT / tree, workdir / tree, ignore=shutil.ignore_patterns("secrets.env", "__pycache__"))
    overlay_dir = workdir / "kubernetes" / "overlays" / overlay
    if secrets_env is not None:
        (overlay_dir / "secrets.env").write_text(secrets_env)
    result = subprocess.run(["kubectl", "kustomize", str(overlay_dir)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(result.stderr)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


class RenderError(Exception):
    pass


def _volume_names() -> list[str]:
    return podman.podman("volume", "ls", "--quiet").stdout.split()


def _secret_value(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


@dataclass
class Platform:
    """The rendered overlay, ready to play workload by workload; :meth:`down` removes everything."""

    docs: list[dict[str, Any]]
    workdir: Path
    played: list[Path] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    volumes_before: set[str] = field(default_factory=lambda: set(_volume_names()))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        (doc,) = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        return doc

    def configmaps(self) -> dict[str, dict[str, str]]:
        return {doc["metadata"]["name"]: doc.get("data", {}) for doc in self.of_kind("ConfigMap")}

    def config(self, name: str) -> dict[str, str]:
        """The data of a generated ConfigMap (by its name before the hash suffix)."""
        (doc,) = [d for d in self.of_kind("ConfigMap") if d["metadata"]["name"].rsplit("-", 1)[0] == name]
        return dict(doc["data"])

    def secret(self, name: str) -> dict[str, str]:
        (doc,) = [d for d in self.of_kind("Secret") if d["metadata"]["name"].rsplit("-", 1)[0] == name]
        return {key: _secret_value(doc, key) for key in doc["data"]}

    def create_secrets(self) -> None:
        for doc in self.of_kind("Secret"):
            name = doc["metadata"]["name"]
            podman.podman("secret", "rm", name, check=False)
            # podman's secretKeyRef reads a JSON object of base64 values (Go's []byte).
            created = subprocess.run(
                ["podman", "secret", "create", name, "-"],
                input=json.dumps(doc.get("data", {})), env=podman.ENV, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if created.returncode != 0:
                raise RuntimeError(f"podman secret create {name}: {created.stderr}")
            self.secrets.append(name)

    def pod_spec_docs(self, kind: str, name: str) -> list[dict[str, Any]]:
        """The workload as podman can play it: a Deployment (or Pod) plus the PVCs it claims."""
        source = copy.deepcopy(self.named(kind, name))
        extra: list[dict[str, Any]] = []
        if kind == "Job":
            template = source["spec"]["template"]
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {**template.get("metadata", {}), "name": name}}
            pod["spec"] = template["spec"]
            for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
                _expand_references(container, self.configmaps())
                _number_probe_ports(container)
            return [pod]
        if kind == "StatefulSet":
            spec = source["spec"]
            for claim in spec.pop("volumeClaimTemplates", []):
                claim_name = f"{claim['metadata']['name']}-{name}-0"
                extra.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": claim_name},
                              "spec": claim["spec"]})  # fmt: skip
                spec["template"]["spec"].setdefault("volumes", []).append(
                    {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}
                )
            spec.pop("serviceName", None)
            source["kind"] = "Deployment"
        source["spec"]["replicas"] = 1
        source["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
        spec = source["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            _expand_references(container, self.configmaps())
            _number_probe_ports(container)
        for volume in spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim")
            if claim and not any(doc["metadata"]["name"] == claim["claimName"] for doc in extra):
                extra.append(self.named("PersistentVolumeClaim", claim["claimName"]))
        return [*extra, source]

    def play(self, kind: str, name: str) -> None:
        """`podman kube play --network host` one workload (blocks while its init containers run)."""
        docs = [*self.of_kind("ConfigMap"), *self.pod_spec_docs(kind, name)]
        path = self.workdir / f"play-{kind.lower()}-{name}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        self.played.append(path)
        podman.podman("kube", "play", "--network", "host", str(path))

    def container(self, kind: str, name: str, container: str) -> str:
        """The podman name of a played container."""
        return f"{name}-{container}" if kind == "Job" else f"{name}-pod-0-{container}"

    def down(self) -> None:
        for path in reversed(self.played):
            podman.podman("kube", "down", str(path), check=False)
        # kube play also makes named volumes of ConfigMaps and emptyDirs, and the images' VOLUMEs
        # anonymous ones: every volume that appeared since the platform started goes.
        for volume in set(_volume_names()) - self.volumes_before:
            podman.podman("volume", "rm", "--force", volume, check=False)
        for secret in self.secrets:
            podman.podman("secret", "rm", secret, check=False)


def _expand_references(container: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> None:
    """Expand `$(VAR)` in env values, command and args from the container's own env, as Kubernetes does."""
    values: dict[str, str] = {}

    def expand(text: str) -> str:
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: values.get(m.group(1), m.group(0)), text)

    for item in container.get("env", []):
        if "value" in item:
            item["value"] = values[item["name"]] = expand(str(item["value"]))
        elif "configMapKeyRef" in item.get("valueFrom", {}):
            ref = item["valueFrom"]["configMapKeyRef"]
            values[item["name"]] = configmaps[ref["name"]][ref["key"]]
    for key in ("command", "args"):
        if key in container:
            container[key] = [expand(str(part)) for part in container[key]]


def _number_probe_ports(container: dict[str, Any]) -> None:
    """Host networking: drop `ports` (podman would map them) and give probes the port numbers."""
    for probe_kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        for action in ("httpGet", "tcpSocket"):
            if action in container.get(probe_kind, {}):
                handler = container[probe_kind][action]
                handler["port"] = _probe_port(container, handler["port"])
    container.pop("ports", None)


def _probe_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


def probe_passes(platform: Platform, kind: str, name: str, container_name: str, probe_kind: str) -> bool:
    """Run a container's probe (httpGet, tcpSocket or exec) as the kubelet would, once."""
    doc = platform.named(kind, name)
    (container,) = [c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == container_name]
    probe = container[probe_kind]
    if "httpGet" in probe:
        port = _probe_port(container, probe["httpGet"]["port"])
        url = f"http://127.0.0.1:{port}{probe['httpGet'].get('path', '/')}"
        try:
            return httpx.get(url, timeout=probe.get("timeoutSeconds", 1) + 2).status_code < 400
        except httpx.HTTPError:
            return False
    if "tcpSocket" in probe:
        import socket

        port = _probe_port(container, probe["tcpSocket"]["port"])
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    command = probe["exec"]["command"]
    result = podman.podman("exec", platform.container(kind, name, container_name), *command, check=False)
    return result.returncode == 0


def wait_ready(platform: Platform, kind: str, name: str, container_name: str, *, timeout: float = 300) -> None:
    """Wait until the readiness probe passes; fail with the container's log otherwise."""
    deadline = time.monotonic() + timeout
    podman_name = platform.container(kind, name, container_name)
    while time.monotonic() < deadline:
        if probe_passes(platform, kind, name, container_name, "readinessProbe"):
            return
        time.sleep(1)
    raise RuntimeError(f"{kind}/{name} not ready after {timeout:.0f} s:\n{podman.logs(podman_name)[-4000:]}")


def wait_exit(platform: Platform, name: str, container_name: str, *, timeout: float = 300) -> int:
    """Wait for a Job's pod container to exit; its exit code."""
    podman_name = platform.container("Job", name, container_name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = podman.podman("inspect", "--format", "{{.State.Status}}", podman_name, check=False).stdout.strip()
        if state in {"exited", "stopped"}:
            code = podman.podman("inspect", "--format", "{{.State.ExitCode}}", podman_name).stdout.strip()
            if code == "0":
                return 0
            # restartPolicy OnFailure: podman starts it again
        time.sleep(1)
    raise RuntimeError(f"Job/{name} did not succeed after {timeout:.0f} s:\n{podman.logs(podman_name)[-4000:]}")
