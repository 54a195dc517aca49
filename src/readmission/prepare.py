"""``prepare``: diabetes_raw -> diabetes_clean -> train/validation/test -> Parquet + manifest.

The clean tables are rebuilt from the whole raw table each time and replaced in
one transaction, so the step is idempotent and a failure leaves the previous
version intact. Cleaning is :func:`readmission.features.clean` (the same code
the serving layer applies); the split is :mod:`readmission.split`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from readmission import export, split, storage

logger = logging.getLogger(__name__)

Target = Literal["any", "within_30_days"]


class NoRawDataError(Exception):
    """``diabetes_raw`` is empty: ingest batches first."""


@dataclass(frozen=True)
class PrepareResult:
    raw: int
    excluded: int
    clean: int
    splits: dict[str, int]
    quarantined: int
    target: str
    data_version: str
    manifest_uri: str
    manifest: dict[str, Any] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "manifest"}


def prepare(
    raw_engine: sa.Engine,
    clean_engine: sa.Engine,
    *,
    target: Target,
    dataset_uri: str,
    s3_endpoint_url: str | None = None,
) -> PrepareResult:
    """Clean, split and export everything in ``diabetes_raw``."""
    from readmission import features, schema

    raw = storage.read_table(raw_engine, storage.diabetes_raw)
    if raw.empty:
        raise NoRawDataError("diabetes_raw is empty: run `readmission ingest` first")
    raw = raw.sort_values("encounter_id", kind="stable").reset_index(drop=True)
    quarantined = storage.count_rows(raw_engine, storage.quarantine)
    result = features.clean(raw[list(schema.COLUMN_NAMES)], target)
    clean = result.frame[list(features.CLEAN_COLUMNS)]
    parts = split.split(clean)
    with storage.loading(clean_engine) as conn:
        storage.replace_table(conn, storage.clean_table(storage.CLEAN_TABLE), clean)
        for name, frame in parts.items():
            storage.replace_table(conn, storage.clean_table(storage.SPLIT_TABLES[name]), frame)
    counts = {name: len(frame) for name, frame in parts.items()}
    manifest = export.export_splits(
        parts,
        uri=dataset_uri,
        target=target,
        s3_endpoint_url=s3_endpoint_url,
        extra={"raw_rows": len(raw), "excluded": result.excluded, "clean_rows": len(clean)},
    )
    logger.info("prepared %d raw rows: %d excluded, %d clean, splits %s", len(raw), result.excluded,
                len(clean), counts)  # fmt: skip
    return PrepareResult(
        raw=len(raw),
        excluded=result.excluded,
        clean=len(clean),
        splits=counts,
        quarantined=quarantined,
        target=target,
        data_version=manifest["data_version"],
        manifest_uri=manifest["uri"],
        manifest=manifest,
    )


def prepare_from_settings() -> PrepareResult:
    """:func:`prepare` with every location and the target from the settings."""
    from readmission.config import get_settings

    settings = get_settings()
    return prepare(
        storage.raw_engine(),
        storage.clean_engine(),
        target=settings.readmission_target,
        dataset_uri=settings.resolved_dataset_uri,
        s3_endpoint_url=settings.s3_endpoint_url,
    )
