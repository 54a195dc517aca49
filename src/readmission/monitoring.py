"""Drift checks of ingested batches, the retraining decision and the pipeline's figures.

- ``log_reference`` stores the training summary of :mod:`readmission.drift` with a
  training run (``drift/reference.json``); ``champion_reference`` reads the champion's.
- ``check_batch_drift`` compares a batch with it, replaces the batch's rows of the
  ``drift`` table, logs an MLflow run ``drift-batch-NNNN`` (PSI per field as metrics,
  the HTML report as artifact) and pushes the figures.
- ``retrain_decision`` says whether the evidence (new rows since the champion was
  trained, drift) justifies training, and why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from readmission import drift, pushmetrics, storage
from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionReference:
    version: str
    run_id: str
    trained_at: datetime
    """When the champion's training run started (UTC, naive like ``ingested_at``)."""
    reference: dict[str, Any]


def log_reference(
    run_id: str,
    train: pd.DataFrame,
    settings: Settings | None = None,
    *,
    model_uri: str | None = None,
    validation: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Summarise the training rows and log the summary with the run (``drift/reference.json``).

    With ``model_uri`` and ``validation`` the summary also holds the model's predicted-risk
    distribution on the validation rows (what the API's live risks are compared with).
    """
    from readmission import tracking

    client = tracking.configure(settings or get_settings())
    reference = drift.build_reference(train)
    if model_uri is not None and validation is not None and len(validation):
        import tempfile
        from pathlib import Path

        from readmission import model_loader, schema

        with tempfile.TemporaryDirectory(prefix="readmission-reference-") as scratch:
            model = model_loader.load_model_dir(model_loader.download(model_uri, Path(scratch))).pipeline
        risks = model.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
        reference["risk_shares"] = drift.risk_shares(risks)
    client.log_dict(run_id, reference, drift.REFERENCE_ARTIFACT)
    logger.info("drift reference of %d training rows logged with run %s", reference["rows"], run_id)
    return reference


def _champion_run(settings: Settings) -> tuple[Any, tuple[str, str] | None]:
    """The MLflow client and the champion's ``(version, run id)``, or None without a champion (or its run)."""
    from readmission import registry, tracking

    client = tracking.configure(settings)
    version = registry.alias_version(client, settings.model_name, settings.model_alias)
    if version is None:
        return client, None
    run_id = client.get_model_version(settings.model_name, version).run_id
    return client, (version, run_id) if run_id else None


def champion_reference(settings: Settings | None = None) -> ChampionReference | None:
    """The champion's training reference, or None when there is no champion (or it has no reference)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    client, champion = _champion_run(settings)
    if champion is None:
        return None
    version, run_id = champion
    try:
        reference = mlflow.artifacts.load_dict(f"runs:/{run_id}/{drift.REFERENCE_ARTIFACT}")
    except (MlflowException, OSError) as error:
        logger.warning("champion version %s has no drift reference (%s)", version, error)
        return None
    started = client.get_run(run_id).info.start_time or 0
    trained_at = datetime.fromtimestamp(started / 1000, UTC).replace(tzinfo=None)
    reference["model_version"] = version
    return ChampionReference(version, run_id, trained_at, reference)


# --------------------------------------------------------------------------- batches


def check_batch_drift(
    batch_number: int,
    records: list[dict[str, Any]],
    champion: ChampionReference | None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Drift of one batch against the champion: stored, reported to MLflow, pushed; a summary back."""
    settings = settings or get_settings()
    if champion is None:
        logger.info("batch %d: no champion with a drift reference yet, nothing to compare with", batch_number)
        return {"batch_number": batch_number, "checked": False, "reason": "no champion reference"}
    frame = pd.DataFrame.from_records(records)
    results = drift.compare(frame, champion.reference)
    summary = drift.summary(results, settings.drift_psi_threshold)
    store_drift(batch_number, results, champion.version, settings)
    report_run = _log_report(batch_number, frame, champion, results, settings)
    pushmetrics.push_drift(batch_number, results, summary["max_psi"], settings)
    logger.info(
        "batch %d drift against champion %s: max PSI %.3f (%s); drifted: %s",
        batch_number, champion.version, summary["max_psi"], summary["max_feature"], summary["drifted"] or "none",
    )  # fmt: skip
    return {"batch_number": batch_number, "checked": True, "report_run_id": report_run, **summary}


def store_drift(
    batch_number: int, results: list[drift.FeatureDrift], model_version: str | None, settings: Settings
) -> int:
    """Replace the batch's rows of the ``drift`` table (one per feature, one transaction)."""
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    table = storage.clean_table(storage.DRIFT_TABLE)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    rows = [
        {**r.as_dict(), "batch_number": batch_number, "model_version": model_version, "computed_at": now}
        for r in results
    ]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.batch_number == batch_number))
        if rows:
            conn.execute(sa.insert(table), rows)
    return len(rows)


def _log_report(
    batch_number: int,
    frame: pd.DataFrame,
    champion: ChampionReference,
    results: list[drift.FeatureDrift],
    settings: Settings,
) -> str:
    from mlflow.entities import Metric

    from readmission import drift_report, tracking

    client = tracking.configure(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment_name)
    assert experiment is not None  # tracking.configure creates it
    title = f"Drift of batch {batch_number} against champion version {champion.version}"
    run = client.create_run(
        experiment.experiment_id,
        run_name=f"drift-batch-{batch_number:04d}",
        tags={"kind": "drift", "batch_number": str(batch_number), "champion_version": champion.version},
    )
    run_id = run.info.run_id
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    summary = drift.summary(results, settings.drift_psi_threshold)
    metrics = [Metric(f"psi_{r.feature}", r.psi, stamp, 0) for r in results]
    metrics.append(Metric("max_psi", summary["max_psi"], stamp, 0))
    metrics.append(Metric("drifted_features", float(len(summary["drifted"])), stamp, 0))
    client.log_batch(run_id, metrics=metrics)
    html = drift_report.render(title, frame, champion.reference, results, settings.drift_psi_threshold)
    client.log_text(run_id, html, drift.REPORT_ARTIFACT)
    client.set_terminated(run_id)
    return run_id


# --------------------------------------------------------------------------- retraining


def rows_since(trained_at: datetime, settings: Settings) -> int:
    """Raw rows ingested after ``trained_at`` (the champion's training did not see them)."""
    engine = storage.raw_engine(settings.resolved_raw_database_url)
    table = storage.diabetes_raw
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(table.c.ingested_at > trained_at)).scalar_one())


def retrain_decision(
    checks: Sequence[Mapping[str, Any]],
    champion: ChampionReference | None,
    *,
    force: bool = False,
    settings: Settings | None = None,
) -> tuple[bool, str]:
    """Train or not, and the reason: forced, no champion, enough new rows, or drift above the threshold."""
    settings = settings or get_settings()
    if force:
        return True, "force_retrain is set"
    if champion is None:
        return True, "there is no champion with a drift reference yet"
    new_rows = rows_since(champion.trained_at, settings)
    minimum, threshold = settings.retrain_min_new_rows, settings.drift_psi_threshold
    trained = f"since champion {champion.version} was trained"
    if new_rows >= minimum:
        return True, f"{new_rows} new rows {trained} (>= RETRAIN_MIN_NEW_ROWS={minimum})"
    drifted = sorted({f for check in checks for f in check.get("drifted", [])})
    if drifted:
        top = max(float(check.get("max_psi", 0.0)) for check in checks)
        return True, f"drift above DRIFT_PSI_THRESHOLD={threshold:g} in {', '.join(drifted)} (max PSI {top:.3f})"
    return False, (
        f"only {new_rows} new rows {trained} (< RETRAIN_MIN_NEW_ROWS={minimum}) "
        f"and no feature drifted (PSI < {threshold:g})"
    )


# --------------------------------------------------------------------------- ingestion figures


def ingestion_totals(settings: Settings | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Rows by outcome over every batch (``ingestion_log``) and quarantined rows by offending field."""
    from readmission import schema

    settings = settings or get_settings()
    engine = storage.raw_engine(settings.resolved_raw_database_url)
    log = storage.ingestion_log
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(log.c.received), 0),
                sa.func.coalesce(sa.func.sum(log.c.inserted), 0),
                sa.func.coalesce(sa.func.sum(log.c.duplicates), 0),
                sa.func.coalesce(sa.func.sum(log.c.quarantined), 0),
            )
        ).one()
        reasons = conn.execute(sa.select(storage.quarantine.c.reason)).scalars().all()
    totals = dict(zip(("received", "inserted", "duplicate", "quarantined"), map(int, row), strict=True))
    fields: dict[str, int] = {}
    for reason in reasons:
        for part in reason.split("; "):
            word = part.split(" ", 1)[0]
            field = word if word in schema.BY_NAME else "other"
            fields[field] = fields.get(field, 0) + 1
    return totals, fields


# --------------------------------------------------------------------------- what the pipeline calls


def check_batches(
    batches: list[tuple[int, list[dict[str, Any]]]], *, force: bool = False, settings: Settings | None = None
) -> dict[str, Any]:
    """Drift of each new batch against the champion, then the retraining decision with its reason."""
    settings = settings or get_settings()
    champion = champion_reference(settings)
    checks = [check_batch_drift(number, records, champion, settings) for number, records in batches]
    train, reason = retrain_decision(checks, champion, force=force, settings=settings)
    logger.info("%s: %s", "RETRAINING" if train else "NOT retraining", reason)
    return {"train": train, "reason": reason, "checks": checks}


def record_ingestion(results: list[Mapping[str, Any]], settings: Settings | None = None) -> bool:
    """Push the rows of this run's batches by outcome and the running totals."""
    settings = settings or get_settings()
    batch_rows = {
        "received": sum(int(r["received"]) for r in results),
        "inserted": sum(int(r["inserted"]) for r in results),
        "duplicate": sum(int(r["duplicates"]) for r in results),
        "quarantined": sum(int(r["quarantined"]) for r in results),
    }
    totals, fields = ingestion_totals(settings)
    last = max((int(r["batch_number"]) for r in results), default=None)
    return pushmetrics.push_ingestion(batch_rows, totals, fields, last, settings)


def record_champion(settings: Settings | None = None) -> dict[str, Any] | None:
    """Push the champion's version and its ``val_*``/``test_*`` metrics; returns them (None: no champion)."""
    settings = settings or get_settings()
    client, champion = _champion_run(settings)
    if champion is None:
        return None
    version, run_id = champion
    metrics = dict(client.get_run(run_id).data.metrics)
    pushmetrics.push_champion(version, metrics, settings)
    return {"version": version, "metrics": metrics}
