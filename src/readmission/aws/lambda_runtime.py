"""What the start/stop Lambda handlers do: select, act, answer in JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from readmission.aws.instances import Action, apply_action
from readmission.aws.selection import InstanceSelector

logger = logging.getLogger(__name__)


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, sort_keys=True),
    }


def handle(action: Action, client: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``action`` on the selected instances; never raises.

    200: ``{"action", "selector", "instances": [{"instance_id", "previous_state",
    "current_state"}]}``; 500: ``{"action", "error", "message"}`` (the error is logged).
    """
    try:
        selector = InstanceSelector.from_env(environ)
        transitions = apply_action(action, selector, client)
    except Exception as exc:
        details = getattr(exc, "response", None)
        error = details.get("Error", {}) if isinstance(details, dict) else {}
        code = error.get("Code") or type(exc).__name__
        logger.exception("%s failed: %s", action, code)
        return _response(500, {"action": action, "error": code, "message": str(exc)})
    return _response(
        200,
        {
            "action": action,
            "selector": selector.describe(),
            "instances": [t.as_dict() for t in transitions],
        },
    )
