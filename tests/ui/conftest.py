"""A running inference API serving the session's real champion, for the UI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import services


@pytest.fixture(scope="session")
def inference_api(champion_model: tuple[str, str, str], service_dir: Path) -> Iterator[str]:
    """Base URL of a real inference API serving ``champion_model`` (tests/conftest.py)."""
    tracking_uri, name, _version = champion_model
    with services.api_server(tracking_uri, name, service_dir) as url:
        yield url
