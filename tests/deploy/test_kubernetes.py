"""The kustomize overlays render with the real kubectl and validate against the Kubernetes 1.30 schemas.

Also: what each overlay contains, that every pod is hardened (restricted Pod Security fields),
that secrets reach containers only key by key (and each service gets only its own), that a
missing secret stops the render naming the key, and that the ConfigMaps made from the
repository's files (rules, dashboards, locustfile, MySQL init) are those files byte for byte.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.support import REPO_ROOT
from tests.support.kustomize import (
    KUBE_DIR,
    OVERLAYS,
    by_kind,
    containers,
    copy_sources,
    example_secrets,
    kustomize,
    pod_templates,
    secret_keys,
)

pytestmark = pytest.mark.unit

K8S_VERSION = "1.30.0"
DEPLOYMENTS = {
    "inference-api",
    "streamlit",
    "data-api",
    "mlflow",
    "prometheus",
    "grafana",
    "locust-master",
    "locust-worker",
    "pushgateway",
}
IN_CLUSTER = {"mysql", "minio"}

# Least privilege: the Secret keys each workload may read (all its containers together).
SECRET_KEYS = {
    "inference-api": {"API_ADMIN_TOKEN", "MLFLOW_API_PASSWORD"},
    "streamlit": set(),
    "data-api": {"DATA_API_ADMIN_TOKEN"},
    "mlflow": {
        "MLFLOW_BACKEND_STORE_URI",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "MLFLOW_S3_ACCESS_KEY_ID",
        "MLFLOW_S3_SECRET_ACCESS_KEY",
    },
    "mlflow-users": {"MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_PIPELINE_PASSWORD", "MLFLOW_API_PASSWORD"},
    "prometheus": set(),
    "grafana": {"GRAFANA_ADMIN_PASSWORD"},
    "locust-master": set(),
    "locust-worker": set(),
    "pushgateway": set(),
    "mysql": {
        "MYSQL_ROOT_PASSWORD",
        "RAW_DATABASE_URL",
        "CLEAN_DATABASE_URL",
        "MLFLOW_BACKEND_STORE_URI",
        "AIRFLOW_DATABASE_URL",
    },
    "minio": {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"},
    "minio-setup": {
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "PIPELINE_S3_ACCESS_KEY_ID",
        "PIPELINE_S3_SECRET_ACCESS_KEY",
        "MLFLOW_S3_ACCESS_KEY_ID",
        "MLFLOW_S3_SECRET_ACCESS_KEY",
    },
}


@pytest.fixture
def renders(k8s_renders: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return k8s_renders


@pytest.fixture(params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, renders: dict[str, list[dict]]) -> tuple[str, list[dict]]:
    return request.param, renders[request.param]


def test_overlays_exist() -> None:
    assert all((KUBE_DIR / "overlays" / overlay / "kustomization.yaml").is_file() for overlay in OVERLAYS)


def test_rendering_without_secrets_env_fails_clearly(tmp_path: Path) -> None:
    root = copy_sources(tmp_path)
    (root / "kubernetes" / "overlays" / "production" / "secrets.env").unlink()
    result = kustomize(root / "kubernetes" / "overlays" / "production")
    assert result.returncode != 0
    assert "secrets.env" in result.stderr


@pytest.mark.parametrize(("overlay", "key"), [("production", "MLFLOW_API_PASSWORD"), ("local", "MYSQL_ROOT_PASSWORD")])
def test_rendering_without_a_key_fails_naming_it(tmp_path: Path, overlay: str, key: str) -> None:
    secrets = example_secrets()
    del secrets[key]
    root = copy_sources(tmp_path, secrets)
    result = kustomize(root / "kubernetes" / "overlays" / overlay)
    assert result.returncode != 0
    assert f"data.{key}" in result.stderr


def test_every_key_a_container_reads_is_required_at_render(renders: dict[str, list[dict]]) -> None:
    """The require-secrets component and the in-cluster components list every key a container reads."""
    required = set()
    for path in (KUBE_DIR / "components").glob("*/kustomization.yaml"):
        for replacement in yaml.safe_load(path.read_text()).get("replacements", []):
            required.add(replacement["source"]["fieldPath"].removeprefix("data."))
    read = {key for _, container in containers(renders["local"]) for key in secret_keys(container)}
    assert read - required == set(), "keys read by containers but not required at render"
    assert required == set(example_secrets()), "secrets.env.example and the required keys differ"


def test_every_document_validates_strictly(renders: dict[str, list[dict]]) -> None:
    """Every document of every overlay (each distinct one once) against the 1.30 schemas, strictly."""
    seen: set[str] = set()
    for overlay, docs in renders.items():
        for doc in docs:
            key = json.dumps(doc, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {path}: {error.message}")
    assert len(seen) > 60


def test_what_each_overlay_runs(renders: dict[str, list[dict]]) -> None:
    for overlay, docs in renders.items():
        assert set(by_kind(docs, "Deployment")) == DEPLOYMENTS, overlay
        assert {"mlflow-users"} <= set(by_kind(docs, "Job")), overlay
        assert {"Namespace", "ConfigMap", "Secret", "Service", "HorizontalPodAutoscaler"} <= {d["kind"] for d in docs}
        assert {"PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding"} <= {
            d["kind"] for d in docs
        }
    for overlay in ("local", "production-in-cluster"):
        assert set(by_kind(renders[overlay], "StatefulSet")) == IN_CLUSTER, overlay
        assert "minio-setup" in by_kind(renders[overlay], "Job"), overlay
    assert by_kind(renders["production"], "StatefulSet") == {}, "production uses external MySQL and S3"
    local_workers = by_kind(renders["local"], "Deployment")["locust-worker"]["spec"]["replicas"]
    production_workers = by_kind(renders["production"], "Deployment")["locust-worker"]["spec"]["replicas"]
    assert local_workers < production_workers


def test_everything_is_namespaced_and_references_resolve(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "readmission", f"{doc['kind']}/{doc['metadata']['name']}"
    configmaps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    claims = by_kind(docs, "PersistentVolumeClaim")
    for workload, container in containers(docs):
        where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
        assert "envFrom" not in container, f"{where}: settings key by key, never a whole ConfigMap/Secret"
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
    for workload, template in pod_templates(docs):
        for volume in template["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, workload["metadata"]["name"]
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, workload["metadata"]["name"]
        account = template["spec"].get("serviceAccountName")
        if account:
            assert account in by_kind(docs, "ServiceAccount")
    pods = [template["metadata"]["labels"] for _, template in pod_templates(docs)]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind(docs, kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            selected = any(selector.items() <= labels.items() for labels in pods)
            assert selected, f"{overlay}: {kind}/{name} selects no pods"
    hpa = by_kind(docs, "HorizontalPodAutoscaler")["inference-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in by_kind(docs, "Deployment")


def test_workloads_are_hardened_and_sized(rendered: tuple[str, list[dict]]) -> None:
    """The restricted Pod Security Standard's fields on every pod and container, requests, limits, probes."""
    overlay, docs = rendered
    namespace = by_kind(docs, "Namespace")["readmission"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload, template in pod_templates(docs):
        where = f"{overlay}: {workload['metadata']['name']}"
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(pod), where
        assert all("hostPath" not in volume for volume in pod.get("volumes", [])), where
        if workload["metadata"]["name"] == "prometheus":
            assert pod["serviceAccountName"] == "prometheus", "only Prometheus talks to the Kubernetes API"
        else:
            assert pod.get("automountServiceAccountToken") is False, where
    for workload, container in containers(docs):
        where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert "add" not in security["capabilities"], where
        assert security.get("privileged") is not True, where
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{where}: untagged image {image}"
        assert not image.endswith(":latest"), f"{where}: untagged image {image}"
    for workload, container in containers(docs, init=False):
        name = workload["metadata"]["name"]
        if workload["kind"] == "Job" or name == "locust-worker":  # runs to completion / no port to probe
            continue
        assert container.get("readinessProbe"), f"{overlay}: {name}"
        assert container.get("livenessProbe"), f"{overlay}: {name}"


def test_secrets_reach_containers_key_by_key_and_only_their_own(rendered: tuple[str, list[dict]]) -> None:
    overlay, docs = rendered
    read: dict[str, set[str]] = {}
    for workload, container in containers(docs):
        where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
        read.setdefault(workload["metadata"]["name"], set()).update(secret_keys(container))
        for env in container.get("env", []):
            if "value" in env:
                assert not re.search(r"TOKEN|PASSWORD|SECRET|_KEY|DATABASE_URL|STORE_URI", env["name"]), where
                assert "@" not in env["value"], f"{where}: {env['name']} looks like a URL with credentials"
    for workload, template in pod_templates(docs):
        for volume in template["spec"].get("volumes", []):
            assert "secret" not in volume, f"{workload['metadata']['name']}: a Secret mounted whole"
    assert read == {name: SECRET_KEYS[name] for name in read}, overlay
    # The inference API holds no object-store key and no database URL (defect 15.7).
    api_env = {env["name"] for _, c in containers(docs) if c["name"] == "inference-api" for env in c["env"]}
    assert not api_env & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "RAW_DATABASE_URL", "CLEAN_DATABASE_URL"}


def test_inference_api_probes_scraping_and_scaling(rendered: tuple[str, list[dict]]) -> None:
    _overlay, docs = rendered
    deployment = by_kind(docs, "Deployment")["inference-api"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"
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


def test_mlflow_runs_its_basic_auth_app_and_waits_for_its_database(rendered: tuple[str, list[dict]]) -> None:
    _overlay, docs = rendered
    pod = by_kind(docs, "Deployment")["mlflow"]["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    assert server["command"][:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    init = {c["name"]: c for c in pod["initContainers"]}
    command = init["wait-for-database"]["command"]
    assert command[2:4] == ["MLFLOW_BACKEND_STORE_URI", "--set"], "waits for its database"
    assert set(command[4:]) == SECRET_KEYS["mlflow"] - {"MLFLOW_BACKEND_STORE_URI"}, "refuses an empty secret"
    (check,) = by_kind(docs, "Deployment")["inference-api"]["spec"]["template"]["spec"]["initContainers"]
    assert set(check["command"][check["command"].index("--set") + 1 :]) == SECRET_KEYS["inference-api"]
    assert any(m["mountPath"] == "/etc/mlflow-auth" for m in server["volumeMounts"])
    assert {e["name"]: e.get("value") for e in server["env"]}["MLFLOW_AUTH_CONFIG_PATH"].startswith("/etc/mlflow-auth/")
    job = by_kind(docs, "Job")["mlflow-users"]["spec"]["template"]["spec"]
    assert job["initContainers"][0]["command"][-1] == "MLFLOW_TRACKING_URI"


def test_prometheus_has_no_lifecycle_endpoint_and_minimal_rbac(rendered: tuple[str, list[dict]]) -> None:
    _overlay, docs = rendered
    (container,) = by_kind(docs, "Deployment")["prometheus"]["spec"]["template"]["spec"]["containers"]
    assert not any("enable-lifecycle" in arg for arg in container["args"])
    (rule,) = by_kind(docs, "Role")["prometheus-discovery"]["rules"]
    assert rule == {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    assert not by_kind(docs, "ClusterRole"), "namespaced discovery only"


def _configmap(docs: list[dict], name: str) -> dict[str, str]:
    (configmap,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(name + "-")]
    return configmap["data"]


def test_configmaps_are_the_repository_files_byte_for_byte(renders: dict[str, list[dict]]) -> None:
    docs = renders["local"]
    expected = {
        "grafana-dashboards": sorted((REPO_ROOT / "grafana" / "dashboards").glob("*.json")),
        "grafana-datasources": sorted((REPO_ROOT / "grafana" / "provisioning" / "datasources").glob("*.yml")),
        "grafana-dashboard-providers": sorted((REPO_ROOT / "grafana" / "provisioning" / "dashboards").glob("*.yml")),
        "prometheus-rules": sorted((REPO_ROOT / "prometheus" / "rules").glob("*.yml")),
        "locustfile": sorted((REPO_ROOT / "locust").glob("*.py")),
        "mysql-init": sorted((REPO_ROOT / "mysql" / "init").iterdir()),
    }
    for name, files in expected.items():
        data = _configmap(docs, name)
        assert set(data) == {f.name for f in files}, f"{name}: a file of the repository is missing from the ConfigMap"
        for path in files:
            assert data[path.name] == path.read_text(), f"{name}: {path.name} differs from the repository's file"
    # Grafana mounts the dashboards where the repository's provider looks for them.
    provider = yaml.safe_load(_configmap(docs, "grafana-dashboard-providers")["readmission.yml"])
    (container,) = by_kind(docs, "Deployment")["grafana"]["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["dashboards"] == provider["providers"][0]["options"]["path"]


def test_prometheus_config_passes_promtool(renders: dict[str, list[dict]], tmp_path: Path) -> None:
    """The ConfigMap's prometheus.yml, with the rules ConfigMap where the pod mounts it, passes promtool.

    Debian's promtool is built without Kubernetes discovery (it rejects `kubernetes_sd_configs`),
    so that one block is checked here as data and handed to promtool as a static target; the
    relabelling, the rules and everything else go through promtool unchanged.
    """
    docs = renders["local"]
    (container,) = by_kind(docs, "Deployment")["prometheus"]["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert f"--config.file={mounts['config']}/prometheus.yml" in container["args"]
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, text in _configmap(docs, "prometheus-rules").items():
        (rules_dir / name).write_text(text)
    config = yaml.safe_load(_configmap(docs, "prometheus-config")["prometheus.yml"])
    assert config["rule_files"] == [f"{mounts['rules']}/*.yml"]
    config["rule_files"] = [f"{rules_dir}/*.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (discovery,) = jobs["inference-api"].pop("kubernetes_sd_configs")
    assert discovery == {"role": "pod", "namespaces": {"own_namespace": True}}
    jobs["inference-api"]["static_configs"] = [{"targets": ["inference-api-pod:8000"]}]
    relabel = jobs["inference-api"]["relabel_configs"]
    kept = {r["source_labels"][0]: r["regex"] for r in relabel if r.get("action") == "keep"}
    assert kept["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] == "true"
    assert kept["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == "inference-api"
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(list(rules_dir.glob('*.yml')))} rule files found" in result.stdout + result.stderr


def test_overlays_differ_in_replicas_and_image_tags(renders: dict[str, list[dict]]) -> None:
    local, production = renders["local"], renders["production"]
    local_api = by_kind(local, "Deployment")["inference-api"]
    production_api = by_kind(production, "Deployment")["inference-api"]
    assert local_api["spec"]["replicas"] < production_api["spec"]["replicas"]
    assert (
        by_kind(local, "HorizontalPodAutoscaler")["inference-api"]["spec"]["maxReplicas"]
        < by_kind(production, "HorizontalPodAutoscaler")["inference-api"]["spec"]["maxReplicas"]
    )
    for _, container in containers(local):
        if container["image"].startswith("readmission/"):
            assert container["image"].endswith(":local")
    for _, container in containers(production):
        name, tag = container["image"].rsplit(":", 1)
        if "readmission" in name:
            assert name.startswith("registry.example.com/"), f"{name}: not a registry image"
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
        "MLFLOW_AUTH_ADMIN_USERNAME",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "AWS_DEFAULT_REGION",
    }
    # Kubernetes-only names, mapped onto the tools' variables in the manifests (README: Secrets).
    deployment_vars = {
        "MLFLOW_PIPELINE_USERNAME",
        "MLFLOW_PIPELINE_PASSWORD",
        "MLFLOW_API_USERNAME",
        "MLFLOW_API_PASSWORD",
        "PIPELINE_S3_ACCESS_KEY_ID",
        "PIPELINE_S3_SECRET_ACCESS_KEY",
        "MLFLOW_S3_ACCESS_KEY_ID",
        "MLFLOW_S3_SECRET_ACCESS_KEY",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "AIRFLOW_DATABASE_URL",
        "GRAFANA_ADMIN_PASSWORD",
        "PROMETHEUS_URL",
        "DATASET_BUCKET",
        "MLFLOW_BUCKET",
        "MLFLOW_HOST",
        "STREAMLIT_SERVER_ADDRESS",
    }
    readme = (KUBE_DIR / "README.md").read_text()
    for path in (KUBE_DIR / "base" / "config.env", KUBE_DIR / "secrets.env.example"):
        keys = {
            line.split("=", 1)[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
        }
        assert keys - settings - tool_vars - deployment_vars == set(), path.name
        assert {key for key in keys & deployment_vars if key not in readme} == set(), "undocumented in README"


def test_secrets_env_is_git_ignored() -> None:
    for overlay in sorted(p.parent.name for p in (KUBE_DIR / "overlays").glob("*/kustomization.yaml")):
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"kubernetes/overlays/{overlay}/secrets.env"], cwd=REPO_ROOT
        )
        assert result.returncode == 0, f"kubernetes/overlays/{overlay}/secrets.env is not git-ignored"


def test_airflow_helm_values(renders: dict[str, list[dict]]) -> None:
    """Airflow reads the fixed-name copies of the ConfigMap and Secret, and only its own keys."""
    values = yaml.safe_load((KUBE_DIR / "airflow-values.yaml").read_text())
    assert values["executor"] in {"KubernetesExecutor", "CeleryExecutor", "CeleryKubernetesExecutor"}
    assert values["airflowVersion"].startswith("3.")
    env_from = yaml.safe_load(values["extraEnvFrom"])
    assert env_from == [{"configMapRef": {"name": "readmission-airflow-config"}}], "no whole Secret in envFrom"
    docs = renders["local"]
    assert "readmission-airflow-config" in by_kind(docs, "ConfigMap")
    secret = by_kind(docs, "Secret")["readmission-airflow"]
    entries = {entry["envName"]: entry["secretKey"] for entry in values["secret"]}
    assert all(entry["secretName"] == "readmission-airflow" for entry in values["secret"])
    assert set(entries.values()) == set(secret["data"]), "the fixed-name Secret holds Airflow's keys only"
    main = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith("readmission-secrets-"))
    assert all(secret["data"][key] == main["data"][key] for key in secret["data"]), "copied from secrets.env"
    metadata = by_kind(docs, "Secret")[values["data"]["metadataSecretName"]]
    assert metadata["data"] == {"connection": main["data"]["AIRFLOW_DATABASE_URL"]}
    assert entries["AWS_ACCESS_KEY_ID"] == "PIPELINE_S3_ACCESS_KEY_ID"
    assert entries["MLFLOW_TRACKING_PASSWORD"] == "MLFLOW_PIPELINE_PASSWORD"
    assert not set(entries.values()) & {"MINIO_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD"}
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    assert values["securityContexts"]["pod"]["runAsNonRoot"] is True
    user = re.search(r"^USER (\d+)", (REPO_ROOT / "dags" / "Dockerfile").read_text(), re.M)
    assert user, "dags/Dockerfile sets no numeric USER"
    assert values["uid"] == values["securityContexts"]["pod"]["runAsUser"] == int(user.group(1))
    readme = (KUBE_DIR / "README.md").read_text()
    assert "airflow-values.yaml" in readme
    assert "secrets.env" in readme


def test_minio_setup_gives_each_service_its_own_bucket_only(renders: dict[str, list[dict]], tmp_path: Path) -> None:
    """MinIO cannot run here: its setup script is checked by the shell and its policy as data."""
    data = _configmap(renders["local"], "minio-setup")
    script = tmp_path / "setup.sh"
    script.write_text(data["setup.sh"])
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    policy = json.loads(data["bucket-readwrite.json"].replace("BUCKET", "datasets"))
    resources = {resource for statement in policy["Statement"] for resource in statement["Resource"]}
    assert resources == {"arn:aws:s3:::datasets", "arn:aws:s3:::datasets/*"}
    assert all(statement["Effect"] == "Allow" for statement in policy["Statement"])
    assert not any("*" in action for s in policy["Statement"] for action in s["Action"]), "no wildcard actions"
    for user, bucket in (("PIPELINE_S3_ACCESS_KEY_ID", "DATASET_BUCKET"), ("MLFLOW_S3_ACCESS_KEY_ID", "MLFLOW_BUCKET")):
        assert re.search(rf'service_user \S+ "\${bucket}" "\${user}"', data["setup.sh"]), user
