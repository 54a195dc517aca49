"""The IAM policy documents of ``aws/policies/``, rendered for one account and region."""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template
from typing import Any

from readmission.config import REPO_ROOT

POLICIES_DIR = REPO_ROOT / "aws" / "policies"

LAMBDA_TRUST = "lambda-trust-policy.json"
SCHEDULER_TRUST = "scheduler-trust-policy.json"
EC2_START_STOP = "ec2-start-stop-policy.json"
LAMBDA_LOGS = "lambda-logs-policy.json"
SCHEDULER_INVOKE = "scheduler-invoke-policy.json"
ALL_POLICIES = (LAMBDA_TRUST, SCHEDULER_TRUST, EC2_START_STOP, LAMBDA_LOGS, SCHEDULER_INVOKE)

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/+=@ -]*$")


class PolicyError(ValueError):
    """A policy template is missing, malformed or given an unsafe value."""


def render_policy(name: str, params: dict[str, str], directory: Path = POLICIES_DIR) -> dict[str, Any]:
    """Substitute ``${PLACEHOLDERS}`` in ``directory/name`` and parse the JSON."""
    unsafe = {key: value for key, value in params.items() if not _SAFE_VALUE.match(value)}
    if unsafe:
        raise PolicyError(f"unsafe values for policy placeholders: {sorted(unsafe)}")
    text = (directory / name).read_text()
    try:
        rendered = Template(text).substitute(params)
    except (KeyError, ValueError) as exc:
        raise PolicyError(f"{name}: missing or bad placeholder {exc}") from exc
    try:
        document: dict[str, Any] = json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{name} is not valid JSON: {exc}") from exc
    return document


def placeholders(name: str, directory: Path = POLICIES_DIR) -> set[str]:
    """The ``${NAMES}`` a template expects."""
    return set(re.findall(r"\$\{([A-Z_]+)\}", (directory / name).read_text()))
