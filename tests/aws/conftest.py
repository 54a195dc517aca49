"""moto-backed AWS fixtures: fake credentials, a mocked account, tagged instances."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from readmission.config import REPO_ROOT, get_settings
from tests.support.aws import REGION, TAG, run_instance


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a clean selection (no instance ids, the default tag)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "INSTANCE_IDS", "EC2_INSTANCE_IDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("EC2_SCHEDULE_TAG", "=".join(TAG))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def mocked_aws(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def ec2(mocked_aws: None) -> object:
    return boto3.client("ec2", region_name=REGION)


@pytest.fixture
def fleet(ec2: object) -> dict[str, str]:
    """Two scheduled instances, one unrelated and one with another tag value (all running)."""
    return {
        "scheduled_a": run_instance(ec2, {TAG[0]: TAG[1], "Name": "data-api-a"}),
        "scheduled_b": run_instance(ec2, {TAG[0]: TAG[1]}),
        "other_tag": run_instance(ec2, {TAG[0]: "something-else"}),
        "untagged": run_instance(ec2),
    }


@pytest.fixture
def load_handler(mocked_aws: None) -> Callable[[str], ModuleType]:
    """Import ``aws/lambda/<name>.py`` afresh (its module-level client is created under moto)."""

    def load(name: str) -> ModuleType:
        path = Path(REPO_ROOT, "aws", "lambda", f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"lambda_{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
