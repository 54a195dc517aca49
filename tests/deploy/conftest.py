"""Fixtures of the deployment tests: the kustomize overlays rendered once per session."""

from __future__ import annotations

import pytest

from tests.deploy.kustomize import copy_sources, render

# The cluster overlays. (overlays/podman, for one host, is rendered and run by tests/containers.)
OVERLAYS = ("local", "production", "production-in-cluster")


@pytest.fixture(scope="session")
def k8s_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every overlay rendered from a copy of the sources with the example secrets.env."""
    root = copy_sources(tmp_path_factory.mktemp("k8s"))
    return {overlay: render(root, overlay) for overlay in OVERLAYS}
