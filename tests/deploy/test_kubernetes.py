"""The kustomize overlays render with the real kubectl and validate against the Kubernetes 1.30 schemas."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.promql import REPO_ROOT

pytestmark = pytest.mark.unit

KUBE_DIR = REPO_ROOT / "kubernetes"
OVERLAYS = sorted(p.parent.name for p in (KUBE_DIR / "overlays").glob("*/kustomization.yaml"))
K8S_VERSION = "1.30.0"
WORKLOADS = {"inference-api", "streamlit", "data-api", "mlflow"}


def render(overlay_dir: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl not found: `apt-get install -y kubernetes-client` (.ci/run installs it)"
    result = subprocess.run([kubectl, "kustomize", str(overlay_dir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict]]:
    """The overlay rendered from a copy of kubernetes/ with a throwaway secrets.env (never the real one)."""
    overlay = request.param
    return overlay, _render_copy(overlay, tmp_path_factory.mktemp(f"k8s-{overlay}"))


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def containers(docs: list[dict]) -> Iterator[tuple[dict, dict]]:
    for deployment in by_kind(docs, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, container


def test_overlays_exist() -> None:
    assert {"local", "production"} <= set(OVERLAYS)


def test_rendering_without_secrets_env_fails_clearly(tmp_path: Path) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBE_DIR, copy, ignore=shutil.ignore_patterns("secrets.env"))
    result = subprocess.run(
        ["kubectl", "kustomize", str(copy / "overlays" / "production")], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "secrets.env" in result.stderr


def test_every_document_validates_strictly(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    kinds = {doc["kind"] for doc in docs}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler"} <= kinds
    assert "PodDisruptionBudget" in kinds
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {path}: {error.message}")


def test_everything_is_namespaced_and_references_resolve(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "readmission", f"{doc['kind']}/{doc['metadata']['name']}"
    configmaps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    claims = by_kind(docs, "PersistentVolumeClaim")
    for deployment, container in containers(docs):
        where = f"{overlay}: {deployment['metadata']['name']}"
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in configmaps, where
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, where
        for env in container.get("env", []):
            ref = env.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                configmap = configmaps.get(ref["configMapKeyRef"]["name"])
                assert configmap is not None, f"{where}: {env['name']} -> missing ConfigMap"
                assert ref["configMapKeyRef"]["key"] in configmap["data"], f"{where}: {env['name']}"
            if "secretKeyRef" in ref:
                secret = secrets.get(ref["secretKeyRef"]["name"])
                assert secret is not None, f"{where}: {env['name']} -> missing Secret (generator name not rewritten?)"
                assert ref["secretKeyRef"]["key"] in secret["data"], f"{where}: {env['name']}"
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, where
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(docs, kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            matches = [
                d
                for d in by_kind(docs, "Deployment").values()
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert matches, f"{overlay}: {kind}/{name} selects no pods"
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["inference-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind(docs, "Deployment")


def test_workloads_are_hardened_and_sized(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    assert set(by_kind(docs, "Deployment")) == WORKLOADS
    for deployment, container in containers(docs):
        where = f"{overlay}: {deployment['metadata']['name']}"
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod.get("automountServiceAccountToken") is False, where
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
        assert container.get("readinessProbe"), where
        assert container.get("livenessProbe"), where
        assert ":" in container["image"], f"{where}: untagged image"
        assert not container["image"].endswith(":latest"), f"{where}: untagged image"
        # No secret value in plain env: secrets come from secretKeyRef only.
        for env in container.get("env", []):
            if any(word in env["name"] for word in ("TOKEN", "PASSWORD", "SECRET", "BACKEND_STORE_URI")):
                assert "secretKeyRef" in env.get("valueFrom", {}), f"{where}: {env['name']}"


def test_inference_api_probes_scraping_and_scaling(rendered: tuple[str, list[dict]]) -> None:
    _overlay, docs = rendered
    deployment = by_kind(docs, "Deployment")["inference-api"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["inference-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    pdb = by_kind(docs, "PodDisruptionBudget")["inference-api"]
    if "minAvailable" in pdb["spec"]:
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "PDB would block every node drain"


def _render_copy(overlay: str, tmp_path: Path) -> list[dict]:
    copy = tmp_path / overlay / "kubernetes"
    shutil.copytree(KUBE_DIR, copy, ignore=shutil.ignore_patterns("secrets.env"))
    shutil.copy(copy / "secrets.env.example", copy / "overlays" / overlay / "secrets.env")
    return render(copy / "overlays" / overlay)


def test_overlays_differ_in_replicas_and_image_tags(tmp_path: Path) -> None:
    local, production = (_render_copy(overlay, tmp_path) for overlay in ("local", "production"))
    local_api = by_kind(local, "Deployment")["inference-api"]
    production_api = by_kind(production, "Deployment")["inference-api"]
    assert local_api["spec"]["replicas"] < production_api["spec"]["replicas"]
    assert (
        by_kind(local, "HorizontalPodAutoscaler")["inference-api"]["spec"]["maxReplicas"]
        < by_kind(production, "HorizontalPodAutoscaler")["inference-api"]["spec"]["maxReplicas"]
    )
    for _, container in containers(local):
        assert container["image"].endswith(":local")
    for _, container in containers(production):
        name, tag = container["image"].rsplit(":", 1)
        assert "/" in name.split("/", 1)[1] or "." in name.split("/", 1)[0], f"{name}: not a registry image"
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{container['image']}: production images are pinned"


def test_config_and_secret_keys_are_settings() -> None:
    """Every key of the ConfigMap and of the Secret example is a real setting or a documented tool variable."""
    from readmission.config import Settings

    settings = {name.upper() for name in Settings.model_fields}
    tool_vars = {
        "MLFLOW_DISABLE_TELEMETRY",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
        "MLFLOW_ARTIFACTS_DESTINATION",
        "MLFLOW_SERVER_ALLOWED_HOSTS",
        "MLFLOW_BACKEND_STORE_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    for path in (KUBE_DIR / "base" / "config.env", KUBE_DIR / "secrets.env.example"):
        keys = {
            line.split("=", 1)[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
        }
        assert keys - settings - tool_vars == set(), path.name


def test_secrets_env_is_git_ignored() -> None:
    for overlay in OVERLAYS:
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"kubernetes/overlays/{overlay}/secrets.env"], cwd=REPO_ROOT
        )
        assert result.returncode == 0, f"kubernetes/overlays/{overlay}/secrets.env is not git-ignored"


def test_airflow_helm_values() -> None:
    values = yaml.safe_load((KUBE_DIR / "airflow-values.yaml").read_text())
    assert values["executor"] in {"KubernetesExecutor", "CeleryExecutor", "CeleryKubernetesExecutor"}
    assert values["airflowVersion"].startswith("3.")
    env_from = yaml.safe_load(values["extraEnvFrom"])
    assert {"configMapRef", "secretRef"} <= {key for item in env_from for key in item}
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    assert values["securityContexts"]["pod"]["runAsNonRoot"] is True
    readme = (KUBE_DIR / "README.md").read_text()
    assert "airflow-values.yaml" in readme
    assert "secrets.env" in readme
