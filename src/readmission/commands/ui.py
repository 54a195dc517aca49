"""`readmission ui`: run the clinician app (Streamlit) in the foreground."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

log = logging.getLogger(__name__)


def streamlit_command(app_path: Path, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line of the app, headless."""
    binary = Path(sys.executable).with_name("streamlit")
    executable = str(binary) if binary.exists() else (shutil.which("streamlit") or "streamlit")
    return [
        executable,
        "run",
        str(app_path),
        "--server.headless=true",
        f"--server.address={host}",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",
    ]


def register(app: typer.Typer) -> None:
    @app.command("ui")
    def ui(
        port: Annotated[int | None, typer.Option(help="Port [default: STREAMLIT_PORT]")] = None,
        host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    ) -> None:
        """Serve the clinician app; it calls the inference API at API_URL (Ctrl-C stops it)."""
        from readmission.config import (
            REPO_ROOT,
            get_settings,
        )  # lazy: `readmission --help` and other commands stay fast

        settings = get_settings()
        app_path = REPO_ROOT / "streamlit" / "app.py"
        if not app_path.is_file():
            raise typer.BadParameter(f"{app_path} not found: run from a source checkout")
        command = streamlit_command(app_path, host, port or settings.streamlit_port)
        log.info("clinician app on http://%s:%s (API at %s)", host, port or settings.streamlit_port, settings.api_url)
        os.execv(command[0], command)  # noqa: S606 - replaces this process with streamlit
