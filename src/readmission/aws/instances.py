"""Start, stop and inspect EC2 instances with structured results."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Literal

from readmission.aws.selection import InstanceSelector, select_instances
from readmission.ec2 import instance_states as read_states

logger = logging.getLogger(__name__)

Action = Literal["start", "stop"]


@dataclass(frozen=True)
class Transition:
    """What one start/stop call did to one instance."""

    instance_id: str
    previous_state: str
    current_state: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _ec2_client(client: Any | None) -> Any:
    if client is not None:
        return client
    import boto3  # slow to import: a Lambda or test that passes its client never pays for it

    return boto3.client("ec2")


def _transitions(items: list[dict[str, Any]]) -> list[Transition]:
    return sorted(
        (
            Transition(
                instance_id=item["InstanceId"],
                previous_state=item["PreviousState"]["Name"],
                current_state=item["CurrentState"]["Name"],
            )
            for item in items
        ),
        key=lambda t: t.instance_id,
    )


_CALLS: dict[Action, tuple[str, str]] = {
    "start": ("start_instances", "StartingInstances"),
    "stop": ("stop_instances", "StoppingInstances"),
}
"""The EC2 API call of each action and the response key listing its instances."""


def change_state(action: Action, instance_ids: list[str], client: Any | None = None) -> list[Transition]:
    """Start or stop the instances; starting a running (or stopping a stopped) one is fine."""
    if action not in _CALLS:
        raise ValueError(f"unknown action {action!r}")
    if not instance_ids:
        return []
    call, key = _CALLS[action]
    response = getattr(_ec2_client(client), call)(InstanceIds=list(instance_ids))
    transitions = _transitions(response.get(key, []))
    for t in transitions:
        logger.info("%s %s: %s -> %s", action, t.instance_id, t.previous_state, t.current_state)
    return transitions


def start_instances(instance_ids: list[str], client: Any | None = None) -> list[Transition]:
    return change_state("start", instance_ids, client)


def stop_instances(instance_ids: list[str], client: Any | None = None) -> list[Transition]:
    return change_state("stop", instance_ids, client)


def apply_action(action: Action, selector: InstanceSelector, client: Any | None = None) -> list[Transition]:
    """Select the instances and start or stop them."""
    ec2 = _ec2_client(client)
    ids = select_instances(ec2, selector)
    if not ids:
        logger.warning("%s: no instance matches (%s)", action, selector.describe())
        return []
    return change_state(action, ids, ec2)


def instance_states(instance_ids: list[str], client: Any | None = None) -> dict[str, str]:
    """``{instance_id: state name}`` (pending, running, stopping, stopped, ...)."""
    if not instance_ids:
        return {}
    return read_states(instance_ids, _ec2_client(client))


def instance_state(instance_id: str, client: Any | None = None) -> str:
    """The state name of one instance (the DAG's ``check_source`` waits for ``running``).

    Raises ``botocore.exceptions.ClientError`` (``InvalidInstanceID.NotFound``) for an
    unknown id.
    """
    states = instance_states([instance_id], client)
    if instance_id not in states:
        raise LookupError(f"instance {instance_id} not found")
    return states[instance_id]
