"""`readmission aws ...`: set up, update, inspect and tear down the EC2 schedule."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

aws_app = typer.Typer(
    help="The scheduled EC2 data source on AWS (Lambda, EventBridge Scheduler, IAM).",
    no_args_is_help=True,
    add_completion=False,
)

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
Region = Annotated[str | None, typer.Option(help="AWS region (default AWS_REGION).")]


def _config(**overrides: Any) -> Any:
    from readmission.aws.deploy import DeployConfig  # lazy: `readmission --help` and other commands stay fast
    from readmission.config import get_settings

    return DeployConfig.from_settings(get_settings(), **overrides)


def _run(what: str, dry_run: bool, **overrides: Any) -> None:
    from readmission.aws import deploy  # lazy: `readmission --help` and other commands stay fast

    config = _config(**overrides)
    try:
        plan = getattr(deploy, what)(config, dry_run=dry_run)
    except deploy.DeployError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(deploy.format_plan(plan, dry_run=dry_run))


@aws_app.command()
def setup(dry_run: DryRun = False, region: Region = None) -> None:
    """Create or update the IAM roles, both Lambda functions and both schedules."""
    _run("setup", dry_run, region=region)


@aws_app.command("update-schedule")
def update_schedule_command(
    dry_run: DryRun = False,
    region: Region = None,
    start: Annotated[str | None, typer.Option(help="Start expression, e.g. 'cron(55 8 * * ? *)'.")] = None,
    stop: Annotated[str | None, typer.Option(help="Stop expression, e.g. 'cron(55 23 * * ? *)'.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. America/Lima.")] = None,
) -> None:
    """Change the start/stop expressions or time zone (default: EC2_*_SCHEDULE settings)."""
    _run(
        "update_schedule",
        dry_run,
        region=region,
        start_schedule=start,
        stop_schedule=stop,
        timezone=timezone,
    )


@aws_app.command()
def teardown(
    dry_run: DryRun = False,
    region: Region = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete the schedules, the functions and the roles."""
    if not dry_run and not yes:
        typer.confirm("Delete the schedules, Lambda functions and IAM roles?", abort=True)
    _run("teardown", dry_run, region=region)


@aws_app.command()
def status(
    region: Region = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show which resources exist and are in sync, and the instances' states."""
    from readmission.aws import deploy  # lazy: `readmission --help` and other commands stay fast

    report = deploy.status(_config(region=region))
    if as_json:
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    width = max((len(item["name"]) for item in report["resources"]), default=0)
    for item in report["resources"]:
        state = "in sync" if item["in_sync"] else ("drifted" if item["exists"] else "missing")
        line = f"  {state:<8} {item['kind']:<16} {item['name']:<{width}}  {item['detail']}"
        typer.echo(line.rstrip())
    if not report["instances"]:
        typer.echo("  no instance selected")
    for instance_id, state in sorted(report["instances"].items()):
        typer.echo(f"  instance {instance_id}: {state}")


def register(app: typer.Typer) -> None:
    """Add the ``aws`` sub-command group."""
    app.add_typer(aws_app, name="aws")
