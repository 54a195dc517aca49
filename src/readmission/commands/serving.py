"""`readmission serve`: the inference API in the foreground (uvicorn, uvloop + httptools)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[str | None, typer.Option(help="Bind address [default: API_HOST]")] = None,
        port: Annotated[int | None, typer.Option(help="Port [default: API_PORT]")] = None,
    ) -> None:
        """Serve the inference API (models:/MODEL_NAME@MODEL_ALIAS; Ctrl-C stops it)."""
        import uvicorn  # lazy: `readmission --help` and other commands stay fast

        from readmission.config import get_settings
        from readmission.serving import create_app

        settings = get_settings()
        uvicorn.run(
            create_app(settings),
            host=host or settings.api_host,
            port=port or settings.api_port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_config=None,
        )
