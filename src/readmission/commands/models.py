"""`readmission train | promote | rollback | models`: training and the model registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        manifest: Annotated[
            str | None, typer.Option(help="Export manifest (path or s3://) [default: DATASET_URI/manifest.json]")
        ] = None,
        no_promote: Annotated[bool, typer.Option("--no-promote", help="Register only; leave champion as is")] = False,
    ) -> None:
        """Train the candidates on the split tables, log and register the best, promote it if better."""
        from readmission import pipeline  # lazy: `readmission --help` and other commands stay fast
        from readmission.modeling import NoTrainingDataError

        try:
            result = pipeline.train_register_promote(manifest, promote_model=not no_promote)
        except NoTrainingDataError as error:
            raise typer.BadParameter(str(error)) from None
        typer.echo(json.dumps(result, indent=2, default=str))

    @app.command("promote")
    def promote(
        version: Annotated[
            str | None, typer.Option(help="Force this version to champion (operator override, tagged)")
        ] = None,
    ) -> None:
        """Promote the challenger if it beats the champion on validation, or force --version N."""
        from readmission import registry  # lazy: `readmission --help` and other commands stay fast

        try:
            result = registry.force_champion(version) if version else registry.promote_if_better()
        except registry.RegistryError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(result, indent=2, default=str))

    @app.command("rollback")
    def rollback() -> None:
        """Move champion back to the previous champion."""
        from readmission import registry  # lazy: `readmission --help` and other commands stay fast

        try:
            result = registry.rollback()
        except registry.RegistryError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(result, indent=2))

    @app.command("models")
    def models() -> None:
        """List registered versions with their aliases and key metrics."""
        from readmission import registry  # lazy: `readmission --help` and other commands stay fast

        rows = registry.list_versions()
        if not rows:
            typer.echo("no registered versions")
            return
        typer.echo(f"{'version':>7}  {'aliases':<30} {'candidate':<12} {'val_auc':>7} {'test_auc':>8}  data_version")
        for row in rows:
            val = f"{row['val_roc_auc']:.4f}" if row["val_roc_auc"] is not None else "-"
            test = f"{row['test_roc_auc']:.4f}" if row["test_roc_auc"] is not None else "-"
            aliases = ",".join(row["aliases"]) + (" (forced)" if row["forced"] else "")
            typer.echo(
                f"{row['version']:>7}  {aliases:<30} {row['candidate']:<12} {val:>7} {test:>8}  {row['data_version']}"
            )
