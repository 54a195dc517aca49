"""Lambda handler: stop the scheduled EC2 instances (EventBridge Scheduler target).

Instances come from ``INSTANCE_IDS`` or the ``EC2_SCHEDULE_TAG`` selector; the logic
lives in ``readmission.aws`` (packaged into the zip by ``make lambdas``).
"""

from __future__ import annotations

import logging
from typing import Any

import boto3

from readmission.aws.lambda_runtime import handle

logging.getLogger().setLevel(logging.INFO)

EC2 = boto3.client("ec2")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stop the selected instances; 200 with their transitions, or a 500 JSON body."""
    return handle("stop", EC2)
