"""The settings, `.env.example` and the README agree; secrets behave as documented."""

import re

import pytest

from readmission.config import REPO_ROOT, MissingSecretError, Settings

SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def _env_example_names() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_setting():
    assert SETTING_NAMES - _env_example_names() == set()


def test_readme_configuration_table_names_real_settings():
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", table, flags=re.MULTILINE))
    named |= set(re.findall(r"`([A-Z][A-Z0-9_]*_TOKEN)`", table))
    assert named, "the README has a configuration table"
    assert named - SETTING_NAMES == set()


def test_production_requires_tokens(tmp_path):
    settings = Settings(environment="production", local_dir=tmp_path, api_admin_token=None)
    with pytest.raises(MissingSecretError, match="API_ADMIN_TOKEN must be set"):
        settings.secret("api_admin_token")


def test_local_tokens_are_generated_once_and_private(tmp_path):
    settings = Settings(environment="local", local_dir=tmp_path)
    first = settings.secret("api_admin_token")
    assert len(first) >= 32
    assert Settings(environment="local", local_dir=tmp_path).secret("api_admin_token") == first
    assert (tmp_path / "secrets" / "api_admin_token").stat().st_mode & 0o077 == 0


def test_explicit_token_wins(tmp_path):
    settings = Settings(local_dir=tmp_path, data_api_admin_token="from-env")
    assert settings.secret("data_api_admin_token") == "from-env"
