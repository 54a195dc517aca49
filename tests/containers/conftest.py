"""Container tests (marker ``containers``; `make test-containers`): images built here with podman."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/containers/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.containers)
