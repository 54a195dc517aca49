"""`readmission ingest` and `readmission prepare`: the data layer's operator commands.

Exit codes: 0 done, 2 bad usage, 3 data source unavailable, 4 data source or
dataset error, 5 nothing to prepare, 1 database error.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_SOURCE_UNAVAILABLE = 3
EXIT_SOURCE_ERROR = 4
EXIT_NO_DATA = 5
EXIT_DATABASE = 1


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _print(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


def ingest(
    batch: Annotated[int | None, typer.Option("--batch", min=1, help="Ingest this batch number.")] = None,
    next_: Annotated[
        bool, typer.Option("--next", help="Ingest the lowest batch not ingested yet that the cycle has reached.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Backfill: ingest every batch (1..total) not ingested yet.")
    ] = False,
    again: Annotated[bool, typer.Option("--again", help="With --all: re-send batches already ingested.")] = False,
) -> None:
    """Fetch batches from DATA_API_URL into diabetes_raw (invalid rows go to quarantine)."""
    import sqlalchemy as sa  # lazy: `readmission --help` and other commands stay fast

    from readmission import ingest as ingest_module
    from readmission import pipeline, storage
    from readmission.data_source import DataSourceClient, DataSourceError, DataSourceUnavailableError

    if sum((batch is not None, next_, all_)) != 1:
        raise _fail("give exactly one of --batch N, --next or --all", EXIT_USAGE)
    try:
        engine = storage.raw_engine()
        with DataSourceClient.from_settings() as client:
            if batch is not None:
                results = [ingest_module.ingest_batch(engine, client, batch)]
            elif next_:
                one = pipeline.ingest_next()
                results = [one] if one else []
            else:
                results = ingest_module.ingest_all(engine, client, again=again)
    except DataSourceUnavailableError as error:
        raise _fail(f"{error}; nothing was written", EXIT_SOURCE_UNAVAILABLE) from None
    except DataSourceError as error:
        raise _fail(f"{error}; nothing was written", EXIT_SOURCE_ERROR) from None
    except sa.exc.SQLAlchemyError as error:
        raise _fail(
            f"raw database error: {error.__class__.__name__}: {getattr(error, 'orig', None) or error}", EXIT_DATABASE
        ) from None
    _print(
        {
            "batches": [r.as_dict() for r in results],
            "inserted": sum(r.inserted for r in results),
            "duplicates": sum(r.duplicates for r in results),
            "quarantined": sum(r.quarantined for r in results),
        }
    )


def prepare() -> None:
    """Rebuild diabetes_clean and the splits from diabetes_raw and export them to DATASET_URI."""
    import sqlalchemy as sa  # lazy: `readmission --help` and other commands stay fast

    from readmission import pipeline
    from readmission.export import DatasetError

    try:
        result = pipeline.prepare()
    except pipeline.NoRawDataError as error:
        raise _fail(str(error), EXIT_NO_DATA) from None
    except DatasetError as error:
        raise _fail(str(error), EXIT_SOURCE_ERROR) from None
    except sa.exc.SQLAlchemyError as error:
        raise _fail(
            f"database error: {error.__class__.__name__}: {getattr(error, 'orig', None) or error}", EXIT_DATABASE
        ) from None
    _print(result)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("prepare")(prepare)
