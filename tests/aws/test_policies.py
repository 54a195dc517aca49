"""Every IAM document in aws/policies is valid JSON and least-privilege."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from readmission.aws import policies

pytestmark = pytest.mark.unit

PARAMS = {
    "ACCOUNT_ID": "111122223333",
    "REGION": "us-east-1",
    "TAG_KEY": "Schedule",
    "TAG_VALUE": "mlops-data-api",
    "START_FUNCTION": "readmission-start-ec2",
    "STOP_FUNCTION": "readmission-stop-ec2",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(name: str) -> list[dict[str, Any]]:
    return _as_list(policies.render_policy(name, PARAMS)["Statement"])


def test_the_policy_folder_holds_exactly_the_known_documents() -> None:
    files = sorted(p.name for p in policies.POLICIES_DIR.glob("*.json"))
    assert files == sorted(policies.ALL_POLICIES)


@pytest.mark.parametrize("name", policies.ALL_POLICIES)
def test_valid_json_without_wildcards_or_secrets(name: str) -> None:
    raw = (policies.POLICIES_DIR / name).read_text()
    json.loads(raw)  # valid JSON even before rendering
    assert policies.placeholders(name) <= set(PARAMS)
    assert not re.search(r"\d{12}|i-[0-9a-f]{8,}|\d+\.\d+\.\d+\.\d+", raw), "no ids or IPs"
    document = policies.render_policy(name, PARAMS)
    assert document["Version"] == "2012-10-17"
    for statement in _as_list(document["Statement"]):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"wildcard action {action} in {name}"


def test_ec2_start_stop_only_on_tagged_instances() -> None:
    statements = _statements(policies.EC2_START_STOP)
    actions = sorted(a for s in statements for a in _as_list(s["Action"]))
    assert actions == ["ec2:DescribeInstances", "ec2:StartInstances", "ec2:StopInstances"]
    for statement in statements:
        statement_actions = set(_as_list(statement["Action"]))
        if statement_actions & {"ec2:StartInstances", "ec2:StopInstances"}:
            resources = _as_list(statement["Resource"])
            assert "*" not in resources
            assert resources == ["arn:aws:ec2:us-east-1:111122223333:instance/*"]
            condition = statement["Condition"]["StringEquals"]
            assert condition == {"aws:ResourceTag/Schedule": "mlops-data-api"}
        else:
            assert statement_actions == {"ec2:DescribeInstances"}


def test_only_describe_uses_a_star_resource() -> None:
    for name in policies.ALL_POLICIES:
        for statement in _statements(name):
            if "*" in _as_list(statement.get("Resource", [])):
                assert _as_list(statement["Action"]) == ["ec2:DescribeInstances"], name


def test_scheduler_invokes_only_the_two_functions() -> None:
    (statement,) = _statements(policies.SCHEDULER_INVOKE)
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == [
        "arn:aws:lambda:us-east-1:111122223333:function:readmission-start-ec2",
        "arn:aws:lambda:us-east-1:111122223333:function:readmission-stop-ec2",
    ]


def test_trust_policies() -> None:
    (lam,) = _statements(policies.LAMBDA_TRUST)
    assert lam["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert lam["Action"] == "sts:AssumeRole"
    (sched,) = _statements(policies.SCHEDULER_TRUST)
    assert sched["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert sched["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}


def test_logs_only_for_the_functions_log_groups() -> None:
    for statement in _statements(policies.LAMBDA_LOGS):
        assert all(a.startswith("logs:") for a in _as_list(statement["Action"]))
        for resource in _as_list(statement["Resource"]):
            assert resource.startswith("arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/")
            assert "readmission-start-ec2" in resource or "readmission-stop-ec2" in resource


def test_render_rejects_unsafe_values_and_missing_placeholders() -> None:
    with pytest.raises(policies.PolicyError):
        policies.render_policy(policies.EC2_START_STOP, {**PARAMS, "TAG_VALUE": 'x", "y'})
    with pytest.raises(policies.PolicyError):
        policies.render_policy(policies.EC2_START_STOP, {"REGION": "us-east-1"})
