"""What the data API serves, parsed strictly (no NaN or Infinity), for the data API tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def strict_loads(body: bytes | str) -> Any:
    """``json.loads`` that refuses NaN and Infinity (which Python accepts by default)."""

    def reject(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(body, parse_constant=reject)


@dataclass(frozen=True)
class Served:
    metadata: dict[str, Any]
    bodies: dict[int, bytes]
    batches: dict[int, dict[str, Any]]
