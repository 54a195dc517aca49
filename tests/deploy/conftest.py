"""Fixtures of the deployment tests: the kustomize overlays rendered once per session."""

from __future__ import annotations

import pytest

from tests.support.kustomize import OVERLAYS, copy_sources, render


@pytest.fixture(scope="session")
def k8s_renders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Every overlay rendered from a copy of the sources with the example secrets.env."""
    root = copy_sources(tmp_path_factory.mktemp("k8s"))
    return {overlay: render(root, overlay) for overlay in OVERLAYS}
