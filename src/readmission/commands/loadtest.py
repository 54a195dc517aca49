"""`readmission loadtest`: step load on the inference API until the SLO breaks; prints the capacity."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("loadtest")
    def loadtest(
        host: Annotated[str | None, typer.Option(help="Inference API base URL [default: API_URL]")] = None,
        users: Annotated[
            list[str] | None, typer.Option("--user-class", help="Locust user classes [default: Clinician]")
        ] = None,
        step_users: Annotated[int, typer.Option(min=1, help="Users added every step")] = 100,
        step_seconds: Annotated[float, typer.Option(min=3, help="Seconds per step (the first half is ramp-up)")] = 20,
        max_users: Annotated[int, typer.Option(min=1, help="Stop here if the SLO still holds")] = 5000,
        slo_p95_ms: Annotated[float, typer.Option(min=1, help="SLO: p95 latency below this (and 0 failures)")] = 100,
        out: Annotated[Path | None, typer.Option(help="Output folder [default: LOCAL_DIR/loadtest/<time>]")] = None,
    ) -> None:
        """Raise users step by step until p95 >= SLO or a request fails; writes HTML, CSV and a PNG plot."""
        import httpx

        from readmission.config import get_settings
        from readmission.loadtest import LoadTestError, StepLoad, run_step_load

        settings = get_settings()
        url = (host or settings.api_url).rstrip("/")
        try:
            httpx.get(url + "/health", timeout=settings.http_timeout_seconds).raise_for_status()
        except httpx.HTTPError as error:
            typer.echo(f"error: the inference API at {url} does not answer /health ({error}); start it first", err=True)
            raise typer.Exit(3) from None
        folder = out or settings.local_dir / "loadtest" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        plan = StepLoad(step_users, step_seconds, max_users, slo_p95_ms, tuple(users or ("Clinician",)))
        try:
            result = run_step_load(url, folder, plan)
        except LoadTestError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        for step in result.report["steps"]:
            mark = "ok " if step["held"] else "BROKEN"
            typer.echo(
                f"{mark:6} {step['users']:6d} users {step['rps']:9.1f} req/s  p95 {step['p95_ms']:6.0f} ms  "
                f"{step['failures']} failures"
            )
        typer.echo(result.summary())
        typer.echo(f"report {result.html}\nplot   {result.plot}\ncsv    {result.history_csv}")
