"""The aws/ tree: user data is sound, and no account id, IP or instance id is committed."""

from __future__ import annotations

import re
import subprocess

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
