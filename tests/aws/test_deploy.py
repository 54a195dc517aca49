"""setup / update-schedule / teardown / status against moto, and the CLI's dry-run."""

from __future__ import annotations

import json

import boto3
import pytest
from typer.testing import CliRunner

from readmission.aws import deploy
from readmission.aws.selection import InstanceSelector
from readmission.cli import app
from tests.support.aws import REGION

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"  # moto's fixed fake account


@pytest.fixture
def config() -> deploy.DeployConfig:
    return deploy.DeployConfig(
        region=REGION,
        selector=InstanceSelector.build("", "Schedule=mlops-data-api"),
        retry_delay_seconds=0.0,
    )


@pytest.fixture
def clients(mocked_aws: None) -> deploy.Clients:
    return deploy.Clients.for_region(REGION)


def _changes(plan: list[deploy.PlannedAction]) -> set[str]:
    return {a.change for a in plan}


def _nothing_exists(clients: deploy.Clients) -> None:
    assert clients.scheduler.list_schedules()["Schedules"] == []
    assert clients.lambda_.list_functions()["Functions"] == []
    assert clients.iam.list_roles()["Roles"] == []


def test_setup_creates_everything(config, clients) -> None:
    plan = deploy.setup(config, clients)
    assert _changes(plan) == {"create"}
    assert sorted((a.kind, a.name) for a in plan) == sorted(
        [
            ("iam-role", "readmission-ec2-scheduler-lambda"),
            ("iam-role-policy", "readmission-ec2-scheduler-lambda/ec2-start-stop"),
            ("iam-role-policy", "readmission-ec2-scheduler-lambda/lambda-logs"),
            ("iam-role", "readmission-ec2-scheduler-invoke"),
            ("iam-role-policy", "readmission-ec2-scheduler-invoke/invoke-functions"),
            ("lambda-function", "readmission-start-ec2"),
            ("lambda-function", "readmission-stop-ec2"),
            ("schedule", "readmission-start-ec2"),
            ("schedule", "readmission-stop-ec2"),
        ]
    )
    iam = clients.iam
    trust = iam.get_role(RoleName=config.scheduler_role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    ec2_policy = iam.get_role_policy(RoleName=config.lambda_role, PolicyName="ec2-start-stop")
    start_stop = ec2_policy["PolicyDocument"]["Statement"][0]
    assert start_stop["Condition"] == {"StringEquals": {"aws:ResourceTag/Schedule": "mlops-data-api"}}

    for action, handler in (("start", "start_ec2_instance"), ("stop", "stop_ec2_instance")):
        fn = clients.lambda_.get_function(FunctionName=f"readmission-{action}-ec2")["Configuration"]
        assert fn["Handler"] == f"{handler}.handler"
        assert fn["Runtime"] == "python3.12"
        assert fn["Role"] == f"arn:aws:iam::{ACCOUNT}:role/readmission-ec2-scheduler-lambda"
        assert fn["Environment"]["Variables"] == {"EC2_SCHEDULE_TAG": "Schedule=mlops-data-api"}

    expected = {"start": "cron(55 8 * * ? *)", "stop": "cron(55 23 * * ? *)"}
    for action, expression in expected.items():
        schedule = clients.scheduler.get_schedule(Name=f"readmission-{action}-ec2")
        assert schedule["ScheduleExpression"] == expression
        assert schedule["ScheduleExpressionTimezone"] == "America/Lima"
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert schedule["State"] == "ENABLED"
        target = schedule["Target"]
        assert target["Arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:readmission-{action}-ec2"
        assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/readmission-ec2-scheduler-invoke"
        assert json.loads(target["Input"])["action"] == action


def test_second_setup_changes_nothing(config, clients) -> None:
    deploy.setup(config, clients)
    second = deploy.setup(config, clients)
    assert _changes(second) == {"unchanged"}
    assert len(second) == 9


def test_setup_repairs_drift(config, clients) -> None:
    deploy.setup(config, clients)
    clients.iam.put_role_policy(
        RoleName=config.lambda_role,
        PolicyName="ec2-start-stop",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}],
            }
        ),
    )
    clients.iam.put_role_policy(
        RoleName=config.lambda_role,
        PolicyName="hand-made",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    with_ids = deploy.DeployConfig(
        region=REGION,
        selector=InstanceSelector.build("i-0aaaaaaaaaaaaaaaa", "Schedule=mlops-data-api"),
        retry_delay_seconds=0.0,
    )
    other_code = {"start": b"not the same zip", "stop": deploy.build_zips()["stop"]}
    plan = {(a.kind, a.name): a for a in deploy.setup(with_ids, clients, zips=other_code)}
    assert plan[("iam-role-policy", f"{config.lambda_role}/ec2-start-stop")].change == "update"
    assert plan[("iam-role-policy", f"{config.lambda_role}/hand-made")].change == "delete"
    start = plan[("lambda-function", "readmission-start-ec2")]
    assert start.change == "update"
    assert "Code" in start.detail
    assert "Environment" in start.detail
    names = clients.iam.list_role_policies(RoleName=config.lambda_role)["PolicyNames"]
    assert sorted(names) == ["ec2-start-stop", "lambda-logs"]
    fn = clients.lambda_.get_function(FunctionName="readmission-stop-ec2")["Configuration"]
    assert fn["Environment"]["Variables"]["INSTANCE_IDS"] == "i-0aaaaaaaaaaaaaaaa"
    assert _changes(deploy.setup(config, clients)) >= {"update"}
    assert _changes(deploy.setup(config, clients)) == {"unchanged"}


def test_dry_run_creates_nothing(config, clients) -> None:
    plan = deploy.setup(config, clients, dry_run=True)
    assert _changes(plan) == {"create"}
    assert len(plan) == 9
    _nothing_exists(clients)
    text = deploy.format_plan(plan, dry_run=True)
    assert text.startswith("PLAN (dry run, nothing changed)")
    assert "cron(55 8 * * ? *) America/Lima" in text
    assert text.rstrip().endswith("9 create")


def test_update_schedule(config, clients) -> None:
    with pytest.raises(deploy.DeployError, match="setup"):
        deploy.update_schedule(config, clients)
    deploy.setup(config, clients)
    later = deploy.DeployConfig(
        region=REGION,
        selector=config.selector,
        start_schedule="cron(0 9 ? * MON-FRI *)",
        timezone="UTC",
    )
    preview = deploy.update_schedule(later, clients, dry_run=True)
    assert [a.change for a in preview] == ["update", "update"]
    start = clients.scheduler.get_schedule(Name="readmission-start-ec2")
    assert start["ScheduleExpression"] == "cron(55 8 * * ? *)"
    deploy.update_schedule(later, clients)
    start = clients.scheduler.get_schedule(Name="readmission-start-ec2")
    assert start["ScheduleExpression"] == "cron(0 9 ? * MON-FRI *)"
    assert start["ScheduleExpressionTimezone"] == "UTC"
    assert start["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert _changes(deploy.update_schedule(later, clients)) == {"unchanged"}


def test_teardown_removes_everything(config, clients) -> None:
    deploy.setup(config, clients)
    preview = deploy.teardown(config, clients, dry_run=True)
    assert _changes(preview) == {"delete"}
    assert len(clients.scheduler.list_schedules()["Schedules"]) == 2
    plan = deploy.teardown(config, clients)
    assert _changes(plan) == {"delete"}
    _nothing_exists(clients)
    assert _changes(deploy.teardown(config, clients)) == {"absent"}


def test_status_reports_resources_and_instances(config, clients, fleet) -> None:
    before = deploy.status(config, clients)
    assert not any(r["exists"] for r in before["resources"])
    assert set(before["instances"]) == {fleet["scheduled_a"], fleet["scheduled_b"]}
    deploy.setup(config, clients)
    after = deploy.status(config, clients)
    assert all(r["in_sync"] for r in after["resources"])
    assert set(after["instances"].values()) == {"running"}


def test_cli_dry_run_prints_the_plan_and_changes_nothing(mocked_aws, monkeypatch) -> None:
    # the app's callback would bind a log handler to the runner's (then closed) stderr
    monkeypatch.setattr("readmission.cli.configure_logging", lambda *args: None)
    runner = CliRunner()
    result = runner.invoke(app, ["aws", "setup", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "PLAN (dry run, nothing changed)" in result.output
    assert "readmission-start-ec2" in result.output
    assert "cron(55 23 * * ? *) America/Lima" in result.output
    assert boto3.client("scheduler", region_name=REGION).list_schedules()["Schedules"] == []

    result = runner.invoke(app, ["aws", "setup"])
    assert result.exit_code == 0, result.output
    assert "9 create" in result.output
    result = runner.invoke(app, ["aws", "setup"])
    assert "9 unchanged" in result.output

    result = runner.invoke(app, ["aws", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert all(r["in_sync"] for r in json.loads(result.stdout)["resources"])

    result = runner.invoke(app, ["aws", "update-schedule", "--stop", "cron(0 22 * * ? *)"])
    assert result.exit_code == 0, result.output
    assert "update" in result.output

    result = runner.invoke(app, ["aws", "teardown"], input="n\n")
    assert result.exit_code != 0
    assert len(boto3.client("lambda", region_name=REGION).list_functions()["Functions"]) == 2
    result = runner.invoke(app, ["aws", "teardown", "--yes"])
    assert result.exit_code == 0, result.output
    assert "delete" in result.output
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
