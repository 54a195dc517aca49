"""`readmission ...`: the operator commands.

Each area registers its commands from ``readmission.commands.<area>``; heavy
libraries are imported inside the commands so that ``--help`` stays instant.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer
from pydantic import ValidationError

from readmission import commands
from readmission.config import WeakSecretError, get_settings, settings_problems
from readmission.logs import configure_logging

app = typer.Typer(help="Diabetes readmission MLOps platform.", no_args_is_help=True, add_completion=False)


@app.callback()
def _setup() -> None:
    try:
        settings = get_settings()
    except WeakSecretError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    except ValidationError as error:
        typer.echo(f"error: invalid settings: {settings_problems(error)}", err=True)
        raise typer.Exit(2) from error
    configure_logging(settings.log_level, settings.log_format)


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    app()
