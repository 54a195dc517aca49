"""`readmission data-api`: serve the batch data API in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("data-api")
    def data_api(
        host: Annotated[str | None, typer.Option(help="Bind address (default: DATA_API_HOST)")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default: DATA_API_PORT)")] = None,
        workers: Annotated[int | None, typer.Option(min=1, help="gunicorn workers (default: DATA_API_WORKERS)")] = None,
    ) -> None:
        """Serve the UCI data in batches (gunicorn; Ctrl-C stops it)."""
        from readmission.config import get_settings  # lazy: `readmission --help` and other commands stay fast
        from readmission.data_api.server import serve

        serve(get_settings(), host=host, port=port, workers=workers)
