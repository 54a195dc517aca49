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


STRONG = "k3J9-p2Qx_v8Lm4Tz7Rw1Yb6Nc0Hd5Fs"  # 32 characters, no placeholder word


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_admin_token": "change-me"}, "API_ADMIN_TOKEN is a placeholder"),
        ({"data_api_admin_token": "CHANGE-ME-" + STRONG}, "DATA_API_ADMIN_TOKEN is a placeholder"),
        ({"api_admin_token": STRONG[:31]}, "API_ADMIN_TOKEN has 31 characters: use at least 32"),
        ({"mlflow_tracking_password": "password"}, "MLFLOW_TRACKING_PASSWORD is a placeholder"),
        ({"raw_database_url": "mysql+pymysql://raw:change-me@db/raw_data_db"}, "RAW_DATABASE_URL has a placeholder"),
    ],
)
def test_production_refuses_placeholders_and_short_tokens(tmp_path, overrides, message):
    from readmission.config import WeakSecretError

    values = {"environment": "production", "local_dir": tmp_path, **overrides}
    with pytest.raises(WeakSecretError, match=message) as refused:
        Settings(**values)
    for secret in overrides.values():
        assert secret not in str(refused.value)
    Settings(**{**values, "environment": "local"})  # a laptop may keep short or sample values


def test_production_accepts_strong_secrets_and_strips_them(tmp_path, monkeypatch):
    monkeypatch.setenv("API_ADMIN_TOKEN", STRONG + "\n")
    settings = Settings(environment="production", local_dir=tmp_path)
    assert settings.secret("api_admin_token") == STRONG


def test_an_empty_or_blank_token_is_missing(tmp_path):
    for blank in ("", "  \n"):
        settings = Settings(environment="production", local_dir=tmp_path, api_admin_token=blank)
        assert settings.api_admin_token is None
        with pytest.raises(MissingSecretError):
            settings.secret("api_admin_token")


def test_an_empty_local_token_file_is_replaced_not_accepted(tmp_path):
    path = tmp_path / "secrets" / "api_admin_token"
    path.parent.mkdir(parents=True)
    path.write_text("\n")
    token = Settings(environment="local", local_dir=tmp_path).secret("api_admin_token")
    assert len(token) >= 32
    assert path.read_text() == token
    assert path.stat().st_mode & 0o077 == 0
    assert list(path.parent.iterdir()) == [path], "no temporary file is left behind"


def test_concurrent_first_runs_agree_on_one_token(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    def first_run(_: int) -> str:
        return Settings(environment="local", local_dir=tmp_path).secret("data_api_admin_token")

    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(first_run, range(32)))
    assert len(tokens) == 1


def test_the_cli_refuses_weak_production_secrets_with_a_sentence(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "ENVIRONMENT": "production", "API_ADMIN_TOKEN": "change-me", "LOCAL_DIR": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "readmission"), "models"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "API_ADMIN_TOKEN is a placeholder" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "greater than 0"), ("-1", "greater than 0"), ("601", "less than or equal to 600"),
     ("nan", "finite number"), ("inf", "finite number"), ("soon", "valid number")],
)  # fmt: skip
def test_batch_slot_wait_seconds_refuses_bad_values_with_a_sentence(tmp_path, value, message):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Settings(batch_slot_wait_seconds=value, local_dir=tmp_path)
    env = {**os.environ, "BATCH_SLOT_WAIT_SECONDS": value, "LOCAL_DIR": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "readmission"), "models"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "invalid settings: BATCH_SLOT_WAIT_SECONDS: Input should be" in result.stderr
    assert message in result.stderr
    assert f"(got '{value}')" in result.stderr
    assert "Traceback" not in result.stderr
    assert Settings(batch_slot_wait_seconds="0.25", local_dir=tmp_path).batch_slot_wait_seconds == 0.25
