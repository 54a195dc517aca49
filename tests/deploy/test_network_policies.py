"""The NetworkPolicies as data: for every pair of components and every port the destination
listens on, the rendered policy set allows exactly the flows of the architecture, nothing else.

The evaluator follows the NetworkPolicy semantics: a pod selected by any policy of a type is
isolated for that direction, and a connection needs both the source's egress and the
destination's ingress to allow it. An ``ipBlock`` is taken to match pods too (Calico does), so
a wide ``ipBlock`` rule cannot hide a flow (pods have a private address here, the internet's
endpoints public ones). Airflow's pods (official Helm chart) carry
``tier: airflow``; outside the cluster stand the Kubernetes API server and, in production,
the managed MySQL and object store.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.kustomize import by_kind, pod_templates

pytestmark = pytest.mark.unit

NAMESPACE = "readmission"
NAME = "app.kubernetes.io/name"


@dataclass(frozen=True)
class Endpoint:
    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace: str | None = NAMESPACE  # None: outside the cluster
    ports: frozenset[tuple[str, int]] = frozenset()
    ip: str = "10.244.0.10"  # pods: a private address, so private ipBlocks match them too


OUTSIDE = [
    Endpoint("kube-dns", {"k8s-app": "kube-dns"}, "kube-system", frozenset({("UDP", 53), ("TCP", 53)})),
    Endpoint("kube-apiserver", namespace=None, ports=frozenset({("TCP", 443), ("TCP", 6443)}), ip="172.18.0.2"),
    Endpoint("external-mysql", namespace=None, ports=frozenset({("TCP", 3306)}), ip="203.0.113.10"),
    Endpoint("external-https", namespace=None, ports=frozenset({("TCP", 443)}), ip="198.51.100.20"),
]
AIRFLOW = Endpoint("airflow", {"tier": "airflow", "component": "worker"}, ports=frozenset({("TCP", 8080)}))

# The architecture: who may open a connection to whom (every port the destination listens on).
IN_NAMESPACE_FLOWS = {
    ("streamlit", "inference-api"),
    ("airflow", "inference-api"),
    ("locust-worker", "inference-api"),
    ("prometheus", "inference-api"),
    ("inference-api", "mlflow"),
    ("airflow", "mlflow"),
    ("mlflow-users", "mlflow"),
    ("airflow", "data-api"),
    ("airflow", "airflow"),
    ("grafana", "prometheus"),
    ("locust-worker", "locust-master"),
    ("prometheus", "kube-apiserver"),
    ("airflow", "pushgateway"),
    ("prometheus", "pushgateway"),
    ("airflow", "kube-apiserver"),
}
IN_CLUSTER_STORE_FLOWS = {
    ("mlflow", "mysql"),
    ("airflow", "mysql"),
    ("mlflow", "minio"),
    ("airflow", "minio"),
    ("minio-setup", "minio"),
}
EXTERNAL_STORE_FLOWS = {
    ("mlflow", "external-mysql"),
    ("airflow", "external-mysql"),
    ("mlflow", "external-https"),
    ("airflow", "external-https"),
}


def endpoints(docs: list[dict]) -> list[Endpoint]:
    pods = []
    for _workload, template in pod_templates(docs):
        labels = template["metadata"]["labels"]
        ports = frozenset(
            (port.get("protocol", "TCP"), port["containerPort"])
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])
        )
        pods.append(Endpoint(labels[NAME], labels, NAMESPACE, ports))
    return [*pods, AIRFLOW, *OUTSIDE]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"evaluator does not handle {selector}"
    return selector.get("matchLabels", {}).items() <= labels.items()


def peer_matches(peer: dict[str, Any], endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(endpoint.ip)
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in peer["ipBlock"].get("except", []))
        return address in ipaddress.ip_network(peer["ipBlock"]["cidr"]) and not excluded
    if endpoint.namespace is None:
        return False
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": endpoint.namespace}
        if not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif endpoint.namespace != NAMESPACE:
        return False
    return selects(peer.get("podSelector", {}), endpoint.labels)


def port_matches(rule: dict[str, Any], port: tuple[str, int]) -> bool:
    if not rule.get("ports"):
        return True
    return any((p.get("protocol", "TCP"), p["port"]) == port for p in rule["ports"])


def allowed(policies: list[dict], owner: Endpoint, other: Endpoint, port: tuple[str, int], direction: str) -> bool:
    """Whether ``owner``'s policies let ``other`` through in ``direction`` (Ingress/Egress) on ``port``."""
    if owner.namespace != NAMESPACE:
        return True  # not governed by this namespace's policies
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    relevant = [p["spec"] for p in policies if selects(p["spec"]["podSelector"], owner.labels)]
    relevant = [spec for spec in relevant if direction in spec["policyTypes"]]
    if not relevant:
        return True  # not isolated
    return any(
        port_matches(rule, port) and (not rule.get(peers) or any(peer_matches(p, other) for p in rule[peers]))
        for spec in relevant
        for rule in spec.get(key, [])
    )


def flows(docs: list[dict]) -> set[tuple[str, str]]:
    """Every (source, destination) pair with at least one allowed port, DNS left aside."""
    policies = list(by_kind(docs, "NetworkPolicy").values())
    found = set()
    for source in endpoints(docs):
        if source.namespace != NAMESPACE:
            continue
        for destination in endpoints(docs):
            for port in destination.ports:
                if allowed(policies, source, destination, port, "Egress") and allowed(
                    policies, destination, source, port, "Ingress"
                ):
                    found.add((source.name, destination.name))
    return found


@pytest.fixture
def renders(k8s_renders: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return k8s_renders


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ("local", IN_NAMESPACE_FLOWS | IN_CLUSTER_STORE_FLOWS),
        ("production-in-cluster", IN_NAMESPACE_FLOWS | IN_CLUSTER_STORE_FLOWS),
        ("production", IN_NAMESPACE_FLOWS | EXTERNAL_STORE_FLOWS),
    ],
)
def test_exactly_the_architectures_flows_are_allowed(
    renders: dict[str, list[dict]], overlay: str, expected: set[tuple[str, str]]
) -> None:
    found = {flow for flow in flows(renders[overlay]) if flow[1] != "kube-dns"}
    assert found - expected == set(), f"{overlay}: allowed but not in the architecture"
    assert expected - found == set(), f"{overlay}: needed by the architecture but denied"


def test_default_deny_and_dns(renders: dict[str, list[dict]]) -> None:
    docs = renders["local"]
    deny = by_kind(docs, "NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny.get("ingress")
    assert not deny.get("egress")
    names = {endpoint.name for endpoint in endpoints(docs) if endpoint.namespace == NAMESPACE}
    assert {name for name in names if ("kube-dns" not in {d for s, d in flows(docs) if s == name})} == set()


def test_the_evaluator_sees_a_hole(renders: dict[str, list[dict]]) -> None:
    """An allow-all ingress on MySQL shows up as flows the architecture does not have."""
    docs = [dict(doc) for doc in renders["local"]]
    docs.append(
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "hole"},
            "spec": {"podSelector": {"matchLabels": {NAME: "mysql"}}, "policyTypes": ["Ingress"], "ingress": [{}]},
        }
    )
    docs.append(
        {
            "kind": "NetworkPolicy",
            "metadata": {"name": "hole-egress"},
            "spec": {
                "podSelector": {"matchLabels": {NAME: "inference-api"}},
                "policyTypes": ["Egress"],
                "egress": [{}],
            },
        }
    )
    assert ("inference-api", "mysql") in flows(docs)
    assert ("streamlit", "mysql") not in flows(docs), "the UI's own egress still denies it"
