"""Which EC2 instances the schedule acts on: explicit ids or a ``Key=Value`` tag."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SCHEDULE_TAG = "Schedule=mlops-data-api"


class SelectionError(ValueError):
    """The instance selection is malformed (bad tag, bad id)."""


def parse_tag(tag: str) -> tuple[str, str]:
    """Split ``"Key=Value"`` into ``(key, value)``; both parts are required."""
    key, sep, value = tag.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise SelectionError(f"schedule tag must look like Key=Value, got {tag!r}")
    return key, value


def parse_ids(raw: str) -> tuple[str, ...]:
    """Comma-separated instance ids; blanks ignored, each must start with ``i-``."""
    ids = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [item for item in ids if not item.startswith("i-")]
    if bad:
        raise SelectionError(f"not EC2 instance ids: {', '.join(bad)}")
    return ids


@dataclass(frozen=True)
class InstanceSelector:
    """Explicit ids win; otherwise every instance carrying ``tag_key=tag_value``."""

    instance_ids: tuple[str, ...] = ()
    tag_key: str = "Schedule"
    tag_value: str = "mlops-data-api"

    @classmethod
    def build(cls, instance_ids: str | list[str] | tuple[str, ...], tag: str) -> InstanceSelector:
        ids = parse_ids(instance_ids) if isinstance(instance_ids, str) else tuple(instance_ids)
        key, value = parse_tag(tag)
        return cls(instance_ids=ids, tag_key=key, tag_value=value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstanceSelector:
        """``INSTANCE_IDS`` (or ``EC2_INSTANCE_IDS``) and ``EC2_SCHEDULE_TAG`` (Lambda side)."""
        env = os.environ if environ is None else environ
        ids = env.get("INSTANCE_IDS") or env.get("EC2_INSTANCE_IDS") or ""
        return cls.build(ids, env.get("EC2_SCHEDULE_TAG") or DEFAULT_SCHEDULE_TAG)

    @classmethod
    def from_settings(cls, settings: Any) -> InstanceSelector:
        """From :class:`readmission.config.Settings` (operator side)."""
        return cls.build(list(settings.instance_ids), settings.ec2_schedule_tag)

    @property
    def tag(self) -> str:
        return f"{self.tag_key}={self.tag_value}"

    def describe(self) -> str:
        if self.instance_ids:
            return f"instances {', '.join(self.instance_ids)}"
        return f"instances tagged {self.tag}"


def select_instances(client: Any, selector: InstanceSelector) -> list[str]:
    """The ids to act on; with a tag, every non-terminated instance carrying it (sorted)."""
    if selector.instance_ids:
        return list(selector.instance_ids)
    filters = [
        {"Name": f"tag:{selector.tag_key}", "Values": [selector.tag_value]},
        {
            "Name": "instance-state-name",
            "Values": ["pending", "running", "stopping", "stopped"],
        },
    ]
    ids: list[str] = []
    for page in client.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            ids.extend(instance["InstanceId"] for instance in reservation.get("Instances", []))
    return sorted(ids)
