"""The training data as training reads it: the split tables, the export manifest and the data version."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from readmission import export, storage
from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)


def load_splits(settings: Settings | None = None, names: Sequence[str] | None = None) -> dict[str, pd.DataFrame]:
    """The ``names`` splits (default all: ``train``/``validation``/``test``) from ``CLEAN_DATABASE_URL``."""
    settings = settings or get_settings()
    engine = storage.clean_engine(settings.resolved_clean_database_url)
    return {
        split: storage.read_table(engine, storage.clean_table(storage.SPLIT_TABLES[split]))
        for split in (names or storage.SPLIT_TABLES)
    }


def load_manifest(uri: str | None, settings: Settings | None = None) -> dict[str, Any] | None:
    """The export manifest at ``uri`` (a manifest or the dataset root: its latest); None when there is none."""
    if not uri:
        return None
    settings = settings or get_settings()
    try:
        return export.read_manifest(uri, s3_endpoint_url=settings.s3_endpoint_url)
    except Exception as error:  # a missing manifest only loses file lineage, never the training
        logger.warning("no export manifest at %s (%s): training without file lineage", uri, error)
        return None


def manifest_files(manifest: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{split: {"uri", "sha256", "rows", ...}}`` from a manifest (tolerates a list or a mapping of files)."""
    if not manifest:
        return {}
    entries = manifest.get("files") or manifest.get("splits") or {}
    if isinstance(entries, Mapping):
        items = [(str(name), dict(entry)) for name, entry in entries.items()]
    else:
        items = [(str(entry.get("split") or entry.get("name")), dict(entry)) for entry in entries]
    out = {}
    for name, entry in items:
        entry.setdefault("uri", entry.get("path") or entry.get("key") or entry.get("file"))
        out[name] = entry
    return out


def data_version(frames: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any] | None) -> str:
    """The manifest's ``data_version``, else a content hash of the frames."""
    if manifest and manifest.get("data_version"):
        return str(manifest["data_version"])
    digest = hashlib.sha256()
    for name in sorted(frames):
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(frames[name], index=False).to_numpy().tobytes())
    return f"frames-{digest.hexdigest()[:16]}"
