"""Idempotent set-up, schedule update, teardown and status of the EC2 schedule.

Every function returns a plan: one :class:`PlannedAction` per resource saying
what was (or, with ``dry_run``, would be) done: ``create``, ``update``,
``unchanged``, ``delete`` or ``absent``. A second ``setup`` reports only
``unchanged``. The account id comes from STS at run time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from readmission.aws import policies
from readmission.aws.build import LAMBDA_DIR, build_zips, code_sha256
from readmission.aws.instances import instance_states
from readmission.aws.selection import InstanceSelector, select_instances

logger = logging.getLogger(__name__)

Change = Literal["create", "update", "unchanged", "delete", "absent"]
SCHEDULE_GROUP = "default"


class DeployError(RuntimeError):
    """The deployment cannot proceed (missing prerequisite, AWS refused)."""


@dataclass(frozen=True)
class PlannedAction:
    """One resource and what happens to it."""

    kind: str
    name: str
    change: Change
    detail: str = ""


@dataclass(frozen=True)
class DeployConfig:
    """Names and parameters of everything ``setup`` manages."""

    region: str
    selector: InstanceSelector
    prefix: str = "readmission"
    start_schedule: str = "cron(55 8 * * ? *)"
    stop_schedule: str = "cron(55 23 * * ? *)"
    timezone: str = "America/Lima"
    runtime: str = "python3.12"
    timeout_seconds: int = 30
    memory_mb: int = 128
    policies_dir: Path = policies.POLICIES_DIR
    lambda_dir: Path = LAMBDA_DIR
    retry_delay_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> DeployConfig:
        values: dict[str, Any] = {
            "region": settings.aws_region,
            "selector": InstanceSelector.from_settings(settings),
            "prefix": settings.aws_resource_prefix,
            "start_schedule": settings.ec2_start_schedule,
            "stop_schedule": settings.ec2_stop_schedule,
            "timezone": settings.ec2_schedule_timezone,
            "runtime": settings.lambda_runtime,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def lambda_role(self) -> str:
        return f"{self.prefix}-ec2-scheduler-lambda"

    @property
    def scheduler_role(self) -> str:
        return f"{self.prefix}-ec2-scheduler-invoke"

    def function_name(self, action: str) -> str:
        return f"{self.prefix}-{action}-ec2"

    def schedule_name(self, action: str) -> str:
        return f"{self.prefix}-{action}-ec2"

    def expression(self, action: str) -> str:
        return self.start_schedule if action == "start" else self.stop_schedule


ACTIONS = ("start", "stop")


@dataclass
class Clients:
    """The boto3 clients the deployment uses (one region)."""

    iam: Any
    lambda_: Any
    scheduler: Any
    ec2: Any
    sts: Any
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def for_region(cls, region: str) -> Clients:
        import boto3  # slow to import: only when real clients are built (tests pass moto's)

        session = boto3.session.Session(region_name=region)
        return cls(
            iam=session.client("iam"),
            lambda_=session.client("lambda"),
            scheduler=session.client("scheduler"),
            ec2=session.client("ec2"),
            sts=session.client("sts"),
        )


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _not_found(exc: Exception) -> bool:
    return _error_code(exc) in {"NoSuchEntity", "ResourceNotFoundException"}


def _existing(fetch: Callable[[], Any]) -> Any | None:
    """What ``fetch`` returns, or None when AWS says the resource does not exist."""
    try:
        return fetch()
    except Exception as exc:
        if not _not_found(exc):
            raise
        return None


def _document(value: Any) -> Any:
    """A policy document as a dict, whatever form IAM returned it in."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


class _Context:
    """Account-specific values shared by the steps of one run."""

    def __init__(self, config: DeployConfig, clients: Clients) -> None:
        self.config = config
        self.clients = clients
        self.account = str(clients.sts.get_caller_identity()["Account"])
        self.params = {
            "ACCOUNT_ID": self.account,
            "REGION": config.region,
            "TAG_KEY": config.selector.tag_key,
            "TAG_VALUE": config.selector.tag_value,
            "START_FUNCTION": config.function_name("start"),
            "STOP_FUNCTION": config.function_name("stop"),
        }

    def policy(self, name: str) -> dict[str, Any]:
        return policies.render_policy(name, self.params, self.config.policies_dir)

    def role_arn(self, role: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{role}"

    def function_arn(self, action: str) -> str:
        name = self.config.function_name(action)
        return f"arn:aws:lambda:{self.config.region}:{self.account}:function:{name}"


# ---- IAM roles


def _ensure_role(
    ctx: _Context,
    role: str,
    trust: dict[str, Any],
    inline: dict[str, dict[str, Any]],
    description: str,
    dry_run: bool,
) -> list[PlannedAction]:
    iam = ctx.clients.iam
    plan: list[PlannedAction] = []
    found = _existing(lambda: iam.get_role(RoleName=role))
    current = None if found is None else found["Role"]
    if current is None:
        plan.append(PlannedAction("iam-role", role, "create", description))
        if not dry_run:
            iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=[{"Key": "Project", "Value": ctx.config.prefix}],
            )
        existing: set[str] = set()
    else:
        if _document(current["AssumeRolePolicyDocument"]) == trust:
            plan.append(PlannedAction("iam-role", role, "unchanged", description))
        else:
            plan.append(PlannedAction("iam-role", role, "update", "trust policy differs"))
            if not dry_run:
                iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(trust))
        existing = set()
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
            existing.update(page["PolicyNames"])
    for name, document in inline.items():
        label = f"{role}/{name}"
        if name in existing:
            got = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            if _document(got) == document:
                plan.append(PlannedAction("iam-role-policy", label, "unchanged"))
                continue
            plan.append(PlannedAction("iam-role-policy", label, "update", "document differs"))
        else:
            plan.append(PlannedAction("iam-role-policy", label, "create"))
        if not dry_run:
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    for name in sorted(existing - set(inline)):
        plan.append(PlannedAction("iam-role-policy", f"{role}/{name}", "delete", "not managed"))
        if not dry_run:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
    return plan


def _delete_role(ctx: _Context, role: str, dry_run: bool) -> list[PlannedAction]:
    iam = ctx.clients.iam
    if _existing(lambda: iam.get_role(RoleName=role)) is None:
        return [PlannedAction("iam-role", role, "absent")]
    plan: list[PlannedAction] = []
    names: list[str] = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        names.extend(page["PolicyNames"])
    for name in sorted(names):
        plan.append(PlannedAction("iam-role-policy", f"{role}/{name}", "delete"))
        if not dry_run:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
    attached: list[str] = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        attached.extend(policy["PolicyArn"] for policy in page["AttachedPolicies"])
    for arn in sorted(attached):
        plan.append(PlannedAction("iam-attached-policy", f"{role}/{arn}", "delete", "detach"))
        if not dry_run:
            iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    plan.append(PlannedAction("iam-role", role, "delete"))
    if not dry_run:
        iam.delete_role(RoleName=role)
    return plan


# ---- Lambda functions


def _function_settings(ctx: _Context, action: str) -> dict[str, Any]:
    config = ctx.config
    variables = {"EC2_SCHEDULE_TAG": config.selector.tag}
    if config.selector.instance_ids:
        variables["INSTANCE_IDS"] = ",".join(config.selector.instance_ids)
    return {
        "Role": ctx.role_arn(config.lambda_role),
        "Handler": f"{action}_ec2_instance.handler",
        "Runtime": config.runtime,
        "Timeout": config.timeout_seconds,
        "MemorySize": config.memory_mb,
        "Description": f"{action.capitalize()} the scheduled EC2 data source ({config.prefix})",
        "Environment": {"Variables": variables},
    }


def _with_role_retry(ctx: _Context, call: Callable[[], Any]) -> Any:
    """Retry while a freshly created role is not yet assumable by Lambda (IAM is eventual)."""
    attempts = 8
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:
            retryable = _error_code(exc) == "InvalidParameterValueException" and "role" in str(exc).lower()
            if not retryable or attempt == attempts:
                raise
            logger.info("role not assumable yet, retrying (%d/%d)", attempt, attempts)
            ctx.clients.sleep(ctx.config.retry_delay_seconds)
    raise AssertionError("unreachable")


def _ensure_function(ctx: _Context, action: str, code: bytes, dry_run: bool) -> PlannedAction:
    lam = ctx.clients.lambda_
    name = ctx.config.function_name(action)
    wanted = _function_settings(ctx, action)
    found = _existing(lambda: lam.get_function(FunctionName=name))
    current = None if found is None else found["Configuration"]
    if current is None:
        if not dry_run:
            _with_role_retry(
                ctx,
                lambda: lam.create_function(
                    FunctionName=name,
                    Code={"ZipFile": code},
                    Publish=False,
                    Tags={"Project": ctx.config.prefix},
                    **wanted,
                ),
            )
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return PlannedAction("lambda-function", name, "create", wanted["Handler"])
    differences = [
        key
        for key, value in wanted.items()
        if (current.get(key) or ({"Variables": {}} if key == "Environment" else None)) != value
    ]
    code_changed = current.get("CodeSha256") != code_sha256(code)
    if code_changed:
        differences.append("Code")
    if not differences:
        return PlannedAction("lambda-function", name, "unchanged")
    if not dry_run:
        if code_changed:
            lam.update_function_code(FunctionName=name, ZipFile=code, Publish=False)
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        if differences != ["Code"]:
            _with_role_retry(ctx, lambda: lam.update_function_configuration(FunctionName=name, **wanted))
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return PlannedAction("lambda-function", name, "update", ", ".join(differences))


def _function_exists(ctx: _Context, action: str) -> bool:
    name = ctx.config.function_name(action)
    return _existing(lambda: ctx.clients.lambda_.get_function(FunctionName=name)) is not None


def _delete_function(ctx: _Context, action: str, dry_run: bool) -> PlannedAction:
    name = ctx.config.function_name(action)
    if not _function_exists(ctx, action):
        return PlannedAction("lambda-function", name, "absent")
    if not dry_run:
        ctx.clients.lambda_.delete_function(FunctionName=name)
    return PlannedAction("lambda-function", name, "delete")


# ---- EventBridge Scheduler


def _schedule_settings(ctx: _Context, action: str) -> dict[str, Any]:
    config = ctx.config
    return {
        "ScheduleExpression": config.expression(action),
        "ScheduleExpressionTimezone": config.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": f"{action.capitalize()} the EC2 data source ({config.prefix})",
        "Target": {
            "Arn": ctx.function_arn(action),
            "RoleArn": ctx.role_arn(config.scheduler_role),
            "Input": json.dumps({"action": action, "source": f"{config.prefix}-scheduler"}),
        },
    }


def _schedule_differences(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    differences = [key for key, value in wanted.items() if key != "Target" and current.get(key) != value]
    target = current.get("Target", {})
    differences += [f"Target.{key}" for key, value in wanted["Target"].items() if target.get(key) != value]
    return differences


def _ensure_schedule(ctx: _Context, action: str, dry_run: bool) -> PlannedAction:
    scheduler = ctx.clients.scheduler
    name = ctx.config.schedule_name(action)
    wanted = _schedule_settings(ctx, action)
    summary = f"{wanted['ScheduleExpression']} {wanted['ScheduleExpressionTimezone']}"
    current = _existing(lambda: scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP))
    if current is None:
        if not dry_run:
            scheduler.create_schedule(Name=name, GroupName=SCHEDULE_GROUP, **wanted)
        return PlannedAction("schedule", name, "create", summary)
    differences = _schedule_differences(current, wanted)
    if not differences:
        return PlannedAction("schedule", name, "unchanged", summary)
    if not dry_run:
        scheduler.update_schedule(Name=name, GroupName=SCHEDULE_GROUP, **wanted)
    return PlannedAction("schedule", name, "update", f"{summary} ({', '.join(differences)})")


def _delete_schedule(ctx: _Context, action: str, dry_run: bool) -> PlannedAction:
    scheduler = ctx.clients.scheduler
    name = ctx.config.schedule_name(action)
    if _existing(lambda: scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)) is None:
        return PlannedAction("schedule", name, "absent")
    if not dry_run:
        scheduler.delete_schedule(Name=name, GroupName=SCHEDULE_GROUP)
    return PlannedAction("schedule", name, "delete")


# ---- Public entry points


def setup(
    config: DeployConfig,
    clients: Clients | None = None,
    *,
    dry_run: bool = False,
    zips: dict[str, bytes] | None = None,
) -> list[PlannedAction]:
    """Create or update the roles, both functions and both schedules."""
    ctx = _Context(config, clients or Clients.for_region(config.region))
    code = zips or build_zips(config.lambda_dir)
    plan = _ensure_role(
        ctx,
        config.lambda_role,
        ctx.policy(policies.LAMBDA_TRUST),
        {
            "ec2-start-stop": ctx.policy(policies.EC2_START_STOP),
            "lambda-logs": ctx.policy(policies.LAMBDA_LOGS),
        },
        "Lets the start/stop Lambda functions act on the scheduled EC2 instances",
        dry_run,
    )
    plan += _ensure_role(
        ctx,
        config.scheduler_role,
        ctx.policy(policies.SCHEDULER_TRUST),
        {"invoke-functions": ctx.policy(policies.SCHEDULER_INVOKE)},
        "Lets EventBridge Scheduler invoke the start/stop Lambda functions",
        dry_run,
    )
    plan += [_ensure_function(ctx, action, code[action], dry_run) for action in ACTIONS]
    plan += [_ensure_schedule(ctx, action, dry_run) for action in ACTIONS]
    _log_plan("setup", plan, dry_run)
    return plan


def update_schedule(
    config: DeployConfig, clients: Clients | None = None, *, dry_run: bool = False
) -> list[PlannedAction]:
    """Bring both schedules to ``config``'s expressions and time zone (functions must exist)."""
    ctx = _Context(config, clients or Clients.for_region(config.region))
    missing = [config.function_name(a) for a in ACTIONS if not _function_exists(ctx, a)]
    if missing:
        raise DeployError(f"functions missing ({', '.join(missing)}): run `setup` first")
    plan = [_ensure_schedule(ctx, action, dry_run) for action in ACTIONS]
    _log_plan("update-schedule", plan, dry_run)
    return plan


def teardown(config: DeployConfig, clients: Clients | None = None, *, dry_run: bool = False) -> list[PlannedAction]:
    """Delete the schedules, the functions and the roles (in that order)."""
    ctx = _Context(config, clients or Clients.for_region(config.region))
    plan = [_delete_schedule(ctx, action, dry_run) for action in ACTIONS]
    plan += [_delete_function(ctx, action, dry_run) for action in ACTIONS]
    plan += _delete_role(ctx, config.scheduler_role, dry_run)
    plan += _delete_role(ctx, config.lambda_role, dry_run)
    _log_plan("teardown", plan, dry_run)
    return plan


def status(config: DeployConfig, clients: Clients | None = None) -> dict[str, Any]:
    """What exists, the schedules' expressions and the selected instances' states."""
    clients = clients or Clients.for_region(config.region)
    plan = setup(config, clients, dry_run=True)
    instances = select_instances(clients.ec2, config.selector)
    return {
        "resources": [
            {
                "kind": a.kind,
                "name": a.name,
                "exists": a.change != "create",
                "in_sync": a.change == "unchanged",
                "detail": a.detail,
            }
            for a in plan
        ],
        "instances": instance_states(instances, clients.ec2),
    }


def format_plan(plan: list[PlannedAction], dry_run: bool = False) -> str:
    """A fixed-width table, one resource per line."""
    header = "PLAN (dry run, nothing changed)" if dry_run else "DONE"
    width = max((len(a.name) for a in plan), default=0)
    lines = [header]
    lines += [f"  {a.change:<9} {a.kind:<19} {a.name:<{width}}  {a.detail}".rstrip() for a in plan]
    counts: dict[str, int] = {}
    for a in plan:
        counts[a.change] = counts.get(a.change, 0) + 1
    lines.append("  " + ", ".join(f"{n} {change}" for change, n in sorted(counts.items())))
    return "\n".join(lines)


def _log_plan(what: str, plan: list[PlannedAction], dry_run: bool) -> None:
    changed = [a for a in plan if a.change not in {"unchanged", "absent"}]
    logger.info("%s%s: %d resources, %d changes", what, " (dry run)" if dry_run else "", len(plan), len(changed))
