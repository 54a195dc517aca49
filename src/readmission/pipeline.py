"""The steps of the Airflow pipeline, one small function per DAG task.

``dags/orquestador.py`` only wires these; they call the package's domain code
and return JSON-able summaries (ids, URIs, counts), never data frames, so XCom
stays small. Every step is idempotent and can be re-run on its own:

- ``fetch_batch`` decides which batches to take (the lowest ones the source
  serves that are not in ``ingestion_log``), downloads each one and stages it
  as gzip JSON under ``STAGING_URI`` (a folder or ``s3://``): the network part.
- ``store_raw`` loads the staged batches into ``diabetes_raw`` (one transaction
  per batch, insert-ignore on ``encounter_id``): a failed download leaves no
  partial batch, and re-storing a batch inserts 0 rows.
- ``clean_transform`` rebuilds the clean rows from the whole raw table and
  stages them as Parquet; ``store_clean`` replaces ``diabetes_clean`` with them.
- ``create_splits``, ``export_splits``, ``train_models``, ``register_best``,
  ``promote`` and ``signal_services`` follow.

A run that has nothing to do raises :class:`NothingToDo`; the DAG turns it
into a skip with the reason in the log.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from readmission import (
    datasets,
    export,
    features,
    ingest,
    modeling,
    monitoring,
    pushmetrics,
    registry,
    schema,
    split,
    storage,
    tracking,
)
from readmission.config import Settings, get_settings
from readmission.data_source import DataSourceClient
from readmission.ec2 import instance_states
from readmission.export import DatasetError, Location
from readmission.ingest import IngestResult
from readmission.modeling import TrainResult

logger = logging.getLogger(__name__)

CLEAN_STAGING_NAME = "diabetes_clean.parquet"


class NothingToDo(Exception):  # noqa: N818 - reads as a reason, not an error
    """This run has nothing to do (the source is stopped or exhausted); the DAG skips it."""


class NoRawDataError(Exception):
    """``diabetes_raw`` is empty: ingest batches first."""


# --------------------------------------------------------------------------- staging I/O


def _location(settings: Settings) -> Any:
    return Location(settings.resolved_staging_uri, settings.s3_endpoint_url)


def write_bytes(uri: str, data: bytes, settings: Settings | None = None) -> None:
    """Write ``data`` to a local path (atomically) or ``s3://bucket/key``."""
    _location(settings or get_settings()).put(uri, data, "application/octet-stream")


def read_bytes(uri: str, settings: Settings | None = None) -> bytes:
    return bytes(_location(settings or get_settings()).get(uri))


def staging_uri(*parts: str, settings: Settings | None = None) -> str:
    return str(_location(settings or get_settings()).child(*parts))


def _run_key(run_id: str | None) -> str:
    """A run id as a path part; a fresh unique one for a run without an id (the CLI)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id) if run_id else f"manual-{uuid.uuid4().hex[:12]}"


def batch_staging_uri(batch_number: int, run_id: str | None = None, settings: Settings | None = None) -> str:
    """Where a run stages a batch: ``runs/<run id>/batches/batch-NNNN.json.gz`` (runs never share a file)."""
    return staging_uri("runs", _run_key(run_id), "batches", f"batch-{batch_number:04d}.json.gz", settings=settings)


# --------------------------------------------------------------------------- check_source


def check_source(settings: Settings | None = None) -> dict[str, Any]:
    """Is the data source up? A stopped EC2 instance is :class:`NothingToDo`; a down API is an error."""
    settings = settings or get_settings()
    states: dict[str, str] = {}
    if settings.instance_ids:
        import boto3  # boto3 is slow to import: only when the source is an EC2 instance

        states = instance_states(settings.instance_ids, boto3.client("ec2", region_name=settings.aws_region))
        missing = sorted(set(settings.instance_ids) - states.keys())
        if missing:
            raise LookupError(f"EC2 instance(s) {', '.join(missing)} not found in {settings.aws_region}")
        stopped = {i: s for i, s in states.items() if s != "running"}
        if stopped:
            described = ", ".join(f"{i} is {s}" for i, s in sorted(stopped.items()))
            raise NothingToDo(f"the data source is outside its hours: EC2 {described}")
    with _client(settings) as client:
        health = client.health()
    logger.info("data API %s is up: %s", settings.data_api_url, health)
    return {"data_api_url": settings.data_api_url, "instances": states, "health": health}


def _client(settings: Settings) -> Any:
    return DataSourceClient.from_settings(settings)


# --------------------------------------------------------------------------- fetch_batch / store_raw


@dataclass(frozen=True)
class FetchPlan:
    available: int
    total: int
    ingested: list[int]
    pending: list[int]


def plan_fetch(batches: int, settings: Settings | None = None) -> FetchPlan:
    """The next ``batches`` batch numbers the source serves that are not in ``ingestion_log``."""
    settings = settings or get_settings()
    with _client(settings) as client:
        meta = client.batches()
    available = ingest.available_batches(meta)
    done = ingest.ingested_batches(storage.raw_engine(settings.resolved_raw_database_url))
    pending = [n for n in range(1, available + 1) if n not in done]
    return FetchPlan(available, int(meta["total_batches"]), sorted(done), pending[:batches])


def ingest_next(settings: Settings | None = None) -> IngestResult | None:
    """``readmission ingest --next``: the first batch of :func:`plan_fetch`, fetched and ingested (no staging).

    None when every batch the source serves is already ingested.
    """
    settings = settings or get_settings()
    plan = plan_fetch(1, settings)
    if not plan.pending:
        logger.info("no batch to ingest: batches 1-%d are already ingested", plan.available)
        return None
    with _client(settings) as client:
        return ingest.ingest_batch(storage.raw_engine(settings.resolved_raw_database_url), client, plan.pending[0])


def _plan_uri(run_id: str, settings: Settings) -> str:
    return staging_uri("runs", _run_key(run_id) + ".json", settings=settings)


def _recorded_plan(run_id: str | None, settings: Settings) -> list[int] | None:
    if run_id is None:
        return None
    try:
        return [int(n) for n in json.loads(read_bytes(_plan_uri(run_id, settings), settings))["batches"]]
    except DatasetError:
        return None


def fetch_batch(
    batches: int = 1, *, force_retrain: bool = False, run_id: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Download the next ``batches`` new batches and stage each one; returns their numbers and URIs.

    With no new batch the run has nothing to ingest: :class:`NothingToDo`, unless
    ``force_retrain`` asks to retrain on the data already stored. The batch numbers
    are recorded per ``run_id``, so re-running a run fetches the same batches again
    (and ``store_raw`` then inserts 0 rows) instead of taking the next ones.
    """
    settings = settings or get_settings()
    numbers = _recorded_plan(run_id, settings)
    if numbers is not None:
        logger.info("run %s was planned before: fetching its batches %s again", run_id, numbers)
    else:
        plan = plan_fetch(batches, settings)
        numbers = plan.pending
        if not numbers:
            if plan.available >= plan.total:
                reason = f"the source is exhausted: all {plan.total} batches are ingested"
            else:
                reason = f"no new batch yet: the source serves batches 1-{plan.available} of {plan.total}, all ingested"
            if not force_retrain:
                raise NothingToDo(f"{reason}; trigger with force_retrain=true to retrain on the stored data")
            logger.info("%s; force_retrain is set: retraining on the stored data", reason)
    staged = []
    run_key = _run_key(run_id)
    if numbers:
        with _client(settings) as client:
            for number in numbers:
                batch = client.get_batch(number)
                payload = json.dumps({"batch_number": number, "source": client.base_url, "data": batch.data})
                uri = batch_staging_uri(number, run_key, settings)
                write_bytes(uri, gzip.compress(payload.encode(), compresslevel=1), settings)
                logger.info("batch %d: %d rows staged at %s", number, len(batch.data), uri)
                staged.append(uri)
    if run_id is not None:
        write_bytes(_plan_uri(run_id, settings), json.dumps({"batches": numbers}).encode(), settings)
    return {"batches": numbers, "staged": staged}


def store_raw(staged: list[str], settings: Settings | None = None) -> dict[str, Any]:
    """Ingest each staged batch into ``diabetes_raw`` (validate, quarantine, insert-ignore, log)."""
    settings = settings or get_settings()
    engine = storage.raw_engine(settings.resolved_raw_database_url)

    def read(uri: str) -> ingest.Batch:
        body = json.loads(gzip.decompress(read_bytes(uri, settings)))
        return int(body["batch_number"]), body["data"], str(body["source"])

    results = [result.as_dict() for result in ingest.ingest_many(engine, staged, read)]
    monitoring.record_ingestion(results, settings)
    total = storage.count_rows(engine, storage.diabetes_raw)
    return {
        "staged": staged,
        "batches": [r["batch_number"] for r in results],
        "inserted": sum(r["inserted"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "quarantined": sum(r["quarantined"] for r in results),
        "raw_rows": total,
    }


# --------------------------------------------------------------------------- check_drift


def check_drift(staged: list[str], force_retrain: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Drift of each staged batch against the champion (stored, reported, pushed) and the decision to train."""
    settings = settings or get_settings()
    batches = []
    for uri in staged:
        body = json.loads(gzip.decompress(read_bytes(uri, settings)))
        batches.append((int(body["batch_number"]), body["data"]))
    return monitoring.check_batches(batches, force=force_retrain, settings=settings)


# --------------------------------------------------------------------------- clean / splits


def clean_transform(settings: Settings | None = None, *, run_id: str | None = None) -> dict[str, Any]:
    """Clean the whole raw table and stage the clean rows as Parquet (under the run's id); the URI and counts."""
    settings = settings or get_settings()
    raw_engine = storage.raw_engine(settings.resolved_raw_database_url)
    raw = storage.read_table(raw_engine, storage.diabetes_raw)
    if raw.empty:
        raise NoRawDataError("diabetes_raw is empty: run `readmission ingest` first")
    raw = raw.sort_values("encounter_id", kind="stable").reset_index(drop=True)
    result = features.clean(raw[list(schema.COLUMN_NAMES)], settings.readmission_target)
    clean = result.frame[list(features.CLEAN_COLUMNS)]
    uri = staging_uri("runs", _run_key(run_id), CLEAN_STAGING_NAME, settings=settings)
    write_bytes(uri, export.to_parquet(clean), settings)
    quarantined = storage.count_rows(raw_engine, storage.quarantine)
    logger.info("%d clean rows staged at %s (%d death/hospice excluded)", len(clean), uri, result.excluded)
    return {
        "uri": uri,
        "raw_rows": len(raw),
        "clean_rows": len(clean),
        "excluded": result.excluded,
        "quarantined": quarantined,
    }


def store_clean(uri: str, settings: Settings | None = None) -> dict[str, Any]:
    """Replace ``diabetes_clean`` with the staged clean rows (one transaction)."""
    settings = settings or get_settings()
    frame = pd.read_parquet(io.BytesIO(read_bytes(uri, settings)))
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    with storage.loading(engine) as conn:
        storage.replace_table(conn, storage.clean_table(storage.CLEAN_TABLE), frame)
    rows = storage.count_rows(engine, storage.clean_table(storage.CLEAN_TABLE))
    logger.info("diabetes_clean now holds %d rows", rows)
    return {"clean_rows": rows}


def create_splits(settings: Settings | None = None) -> dict[str, int]:
    """Rebuild ``train_data``/``validation_data``/``test_data`` from ``diabetes_clean`` (patient-grouped)."""
    settings = settings or get_settings()
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    clean = storage.read_table(engine, storage.clean_table(storage.CLEAN_TABLE))
    parts = split.split(clean)
    with storage.loading(engine) as conn:
        for name, frame in parts.items():
            storage.replace_table(conn, storage.clean_table(storage.SPLIT_TABLES[name]), frame)
    counts = {name: len(frame) for name, frame in parts.items()}
    logger.info("splits: %s", counts)
    return counts


def export_splits(settings: Settings | None = None) -> dict[str, Any]:
    """Export the split tables as Parquet with a manifest to ``DATASET_URI``; the manifest URI and version."""
    settings = settings or get_settings()
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    parts = {
        name: storage.read_table(engine, storage.clean_table(table)).sort_values("encounter_id", kind="stable")
        for name, table in storage.SPLIT_TABLES.items()
    }
    manifest = export.export_splits(
        {name: frame.reset_index(drop=True) for name, frame in parts.items()},
        uri=settings.resolved_dataset_uri,
        target=settings.readmission_target,
        s3_endpoint_url=settings.s3_endpoint_url,
        extra={"clean_rows": storage.count_rows(engine, storage.clean_table(storage.CLEAN_TABLE))},
    )
    return {
        "manifest_uri": manifest["uri"],
        "data_version": manifest["data_version"],
        "rows": {name: entry["rows"] for name, entry in manifest["splits"].items()},
    }


def prepare(settings: Settings | None = None) -> dict[str, Any]:
    """``readmission prepare``: the data steps in the DAG's order (clean, store, split, export); a summary."""
    settings = settings or get_settings()
    cleaned = clean_transform(settings)
    store_clean(cleaned["uri"], settings)
    splits = create_splits(settings)
    exported = export_splits(settings)
    summary = {
        "raw": cleaned["raw_rows"],
        "excluded": cleaned["excluded"],
        "clean": cleaned["clean_rows"],
        "splits": splits,
        "quarantined": cleaned["quarantined"],
        "target": settings.readmission_target,
        "data_version": exported["data_version"],
        "manifest_uri": exported["manifest_uri"],
    }
    logger.info("prepared: %s", summary)
    return summary


# --------------------------------------------------------------------------- training / registry


def train_run(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    test: pd.DataFrame | None = None,
    manifest: Mapping[str, Any] | str | None = None,
    *,
    settings: Settings | None = None,
    families: Sequence[str] | None = None,
    register: bool = True,
    target: schema.Target | None = None,
) -> TrainResult:
    """Set MLflow up, run one training of ``target`` (default ``READMISSION_TARGET``) and, with ``register``,
    register its model under that outcome's name (``Settings.model_name_for``)."""
    settings = (settings or get_settings()).for_target(target or (settings or get_settings()).readmission_target)
    client = tracking.configure(settings)
    result = modeling.train_and_log(
        train, validation, test, manifest, settings=settings, families=families, target=settings.readmission_target
    )
    if not register:
        return result
    version = registry.register_run(client, settings.model_name, result.run_id, result.model_uri)
    return dataclasses.replace(result, version=version)


def train_models(manifest_uri: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Fit and log both outcomes (``features.TARGETS``) on the split tables (not registered yet).

    ``manifest_uri`` (default: the latest under ``DATASET_URI``) gives the runs their file lineage.
    The answer has each outcome's run under ``runs`` and the ``any`` run's fields at the top.
    """
    settings = settings or get_settings()
    splits = datasets.load_splits(settings)
    manifest = manifest_uri or settings.resolved_dataset_uri
    start = time.perf_counter()
    results = {
        target: train_run(
            splits["train"], splits["validation"], splits["test"], manifest, settings=settings, register=False,
            target=target,
        )
        for target in features.TARGETS
    }  # fmt: skip
    for result in results.values():
        monitoring.log_reference(
            result.run_id, splits["train"], settings, model_uri=result.model_uri, validation=splits["validation"]
        )
    pushmetrics.push_training(
        time.perf_counter() - start,
        {target: result.candidates for target, result in results.items()},
        {target: result.metrics for target, result in results.items()},
        settings,
    )
    runs = {target: result.as_dict() for target, result in results.items()}
    return {**runs[features.TARGETS[0]], "runs": runs}


def register_best(
    run_id: str, model_uri: str, settings: Settings | None = None, *, target: schema.Target | None = None
) -> dict[str, Any]:
    """Register ``model_uri``, logged by ``run_id``, as a new version of its outcome's model (alias ``challenger``);
    idempotent per run."""
    settings = settings or get_settings()
    settings = settings.for_target(target or settings.readmission_target)
    version = registry.register_run(tracking.configure(settings), settings.model_name, run_id, model_uri)
    return {
        "model_name": settings.model_name,
        "version": version,
        "run_id": run_id,
        "target": settings.readmission_target,
    }


def register_all(trained: Mapping[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """``register_best`` for every outcome's run of ``train_models``; the ``any`` version's fields at the top."""
    runs = trained.get("runs") or {"any": trained}
    registered = {
        target: register_best(run["run_id"], run["model_uri"], settings, target=target) for target, run in runs.items()
    }
    return {**registered.get("any", {}), "outcomes": registered}


def promote_if_better(
    version: str, settings: Settings | None = None, *, target: schema.Target | None = None
) -> dict[str, Any]:
    """Move ``target``'s ``champion`` to ``version`` only when it passes the promotion gate on the same rows."""
    settings = settings or get_settings()
    decision = registry.promote_if_better(version, settings=settings.for_target(target or settings.readmission_target))
    return {key: value for key, value in decision.items() if isinstance(value, (str, int, float, bool, type(None)))}


def promote_all(registered: Mapping[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """``promote_if_better`` for every outcome's new version; ``promoted`` when any champion moved."""
    outcomes = registered.get("outcomes") or {"any": registered}
    decisions = {
        target: promote_if_better(entry["version"], settings, target=target) for target, entry in outcomes.items()
    }
    return {"promoted": any(d["promoted"] for d in decisions.values()), "outcomes": decisions}


def train_register_promote(
    manifest_uri: str | None = None, *, promote_model: bool = True, settings: Settings | None = None
) -> dict[str, Any]:
    """``readmission train``: the DAG's training steps in order (train, register, promote unless told not to)."""
    settings = settings or get_settings()
    out = train_models(manifest_uri, settings)
    registered = register_all(out, settings)
    out["version"] = registered.get("version")
    out["versions"] = {target: entry["version"] for target, entry in registered["outcomes"].items()}
    if promote_model:
        out["promotion"] = promote_all(registered, settings)
    return out


def finish_run(succeeded: bool, decision: dict[str, Any] | None = None, settings: Settings | None = None) -> None:
    """The end of a run: push its outcome, the time of the last success and the champion's figures."""
    settings = settings or get_settings()
    train = decision.get("train") if decision else None
    pushmetrics.push_run_finished(succeeded, None if train is None else "train" if train else "skip", settings)
    monitoring.record_champion(settings)


# --------------------------------------------------------------------------- signal_services


def signal_services(promoted: bool = True, settings: Settings | None = None) -> dict[str, Any]:
    """Ask the inference API to reload its model; an API that is down is a warning, not a failure."""
    settings = settings or get_settings()
    url = settings.api_url.rstrip("/") + "/reload-model"
    if not promoted:
        logger.info("champion unchanged: no reload needed")
        return {"reloaded": False, "reason": "champion unchanged"}
    try:
        token = settings.secret("api_admin_token")
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=settings.http_timeout_seconds)
    except httpx.HTTPError as error:
        logger.warning("inference API at %s not reached (%s): it will pick the champion up itself", url, error)
        return {"reloaded": False, "reason": f"unreachable: {error}"}
    if response.is_error:
        logger.warning("inference API refused the reload: HTTP %d %s", response.status_code, response.text[:200])
        return {"reloaded": False, "reason": f"HTTP {response.status_code}"}
    logger.info("inference API reloaded: %s", response.text[:200])
    return {"reloaded": True, "answer": _json_or_text(response)}


def _json_or_text(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:200]
