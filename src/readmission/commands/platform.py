"""`readmission run`: the whole platform on this machine (what `make run` calls)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        airflow_ui: Annotated[
            bool | None, typer.Option("--airflow-ui/--no-airflow-ui", help="Also start `airflow standalone`")
        ] = None,
        batches: Annotated[
            int | None, typer.Option(min=1, help="Batches the first DAG run ingests [default: all]")
        ] = None,
        exit_when_ready: Annotated[
            bool, typer.Option("--exit", help="Stop everything once it is up (a bring-up check)")
        ] = False,
    ) -> None:
        """Start the data API and MLflow, run the DAG until a champion exists, then serve it (Ctrl-C stops all)."""
        from readmission import bringup  # lazy: `readmission --help` and other commands stay fast
        from readmission.config import get_settings

        settings = get_settings()

        def on_ready(up: bringup.Platform) -> None:
            for line in bringup.report(up):
                typer.echo(line)
            if not exit_when_ready:
                typer.echo("Press Ctrl-C to stop everything.")

        try:
            bringup.run(
                settings,
                airflow_ui=settings.airflow_ui if airflow_ui is None else airflow_ui,
                batches=batches,
                exit_when_ready=exit_when_ready,
                on_ready=on_ready,
            )
        except bringup.PlatformError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
