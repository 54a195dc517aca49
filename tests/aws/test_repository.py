"""The aws/ tree: user data is sound, and no account id, IP or instance id is committed."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from readmission.config import REPO_ROOT

pytestmark = pytest.mark.unit

AWS_DIR = REPO_ROOT / "aws"
USER_DATA = AWS_DIR / "scripts" / "ec2_user_data.sh"


def test_user_data_is_valid_bash_with_a_systemd_unit() -> None:
    subprocess.run(["bash", "-n", str(USER_DATA)], check=True)
    text = USER_DATA.read_text()
    assert "@reboot" not in text
    assert "crontab" not in text
    assert "Restart=always" in text
    assert "systemctl enable --now readmission-data-api.service" in text
    assert "ec2_api/Dockerfile" in text


def test_no_ids_ips_or_keys_in_aws_sources() -> None:
    sources = [p for p in AWS_DIR.rglob("*") if p.is_file() and "build" not in p.relative_to(AWS_DIR).parts[:1]]
    assert sources
    patterns = {
        "account id": re.compile(r"(?<![\d.])\d{12}(?![\d.])"),
        "instance id": re.compile(r"\bi-[0-9a-f]{8,17}\b"),
        "IPv4": re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
        "access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    }
    for path in sources:
        text = path.read_text(errors="replace")
        for label, pattern in patterns.items():
            found = [m for m in pattern.findall(text) if m not in {"0.0.0.0", "127.0.0.1"}]
            assert not found, f"{label} in {path}: {found}"


def _fake_commands(bin_dir: Path, log: Path) -> None:
    """``docker`` and ``systemctl`` that only record their arguments (the script believes Docker is installed)."""
    bin_dir.mkdir()
    for name in ("docker", "systemctl"):
        tool = bin_dir / name
        tool.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        tool.chmod(0o755)


def test_user_data_gives_the_state_directory_to_the_containers_user() -> None:
    uid = int(re.search(r"--uid (\d+)", (REPO_ROOT / "ec2_api" / "Dockerfile").read_text()).group(1))  # type: ignore[union-attr]
    root = Path(tempfile.mkdtemp(prefix="user-data-root-"))
    try:
        root.chmod(0o755)
        state = root / "var/lib/readmission/data-api"
        state.mkdir(parents=True)  # as an older version left it: owned by root
        log = root / "calls.log"
        _fake_commands(root / "bin", log)
        env = {**os.environ, "USER_DATA_ROOT": str(root), "DATA_API_IMAGE": "example/data-api:1",
               "PATH": f"{root / 'bin'}:{os.environ['PATH']}"}  # fmt: skip
        subprocess.run(["bash", str(USER_DATA)], env=env, check=True, capture_output=True)
        info = state.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, uid, 0o750)
        # the container's user can write its cycle file there (as the data API does at every batch)
        subprocess.run(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "touch", str(state / "cycle.json")],
            check=True,
        )
        env_file = root / "etc/readmission/data-api.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert re.search(r"^DATA_API_ADMIN_TOKEN=[0-9a-f]{64}$", env_file.read_text(), re.MULTILINE)
        unit = (root / "etc/systemd/system/readmission-data-api.service").read_text()
        assert f"--user {uid}:{uid}" in unit
        assert f"-v {state}:/state example/data-api:1" in unit
        assert "systemctl enable --now readmission-data-api.service" in log.read_text()
    finally:
        shutil.rmtree(root, ignore_errors=True)
