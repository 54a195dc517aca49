"""The state of EC2 instances, read with a boto3 client the caller passes (this module imports nothing else).

The pipeline's ``check_source`` asks it whether the data source runs; ``readmission.aws``
(the scheduling Lambdas, whose zip holds this module, and ``readmission aws``) uses the same read.
"""

from __future__ import annotations

from typing import Any


def instance_states(instance_ids: list[str], ec2: Any) -> dict[str, str]:
    """``{instance_id: state name}`` (pending, running, stopping, stopped, ...); unknown ids are absent."""
    if not instance_ids:
        return {}
    states: dict[str, str] = {}
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=list(instance_ids)):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                states[instance["InstanceId"]] = instance["State"]["Name"]
    return states
