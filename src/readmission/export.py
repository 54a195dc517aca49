"""Export the splits as Parquet with a manifest, to a local folder or ``s3://bucket/prefix``.

Layout under ``DATASET_URI``::

    <version>/train.parquet, validation.parquet, test.parquet, manifest.json
    manifest.json                      # a copy of the latest manifest

``version`` is content-derived (SHA-256 of the target and of every file), so the
same data always gets the same id and files under a version never change.
Training records the manifest's URI and version in MLflow for lineage.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"


class DatasetError(Exception):
    """A dataset cannot be written or read (bad URI, missing file, checksum mismatch)."""


@dataclass(frozen=True)
class Location:
    """A local folder or an S3 prefix, with byte-level put/get."""

    uri: str
    s3_endpoint_url: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    def child(self, *parts: str) -> str:
        return "/".join([self.uri.rstrip("/"), *parts])

    def _s3(self) -> Any:
        import boto3  # boto3 takes a second to import: only for s3:// locations

        return boto3.client("s3", endpoint_url=self.s3_endpoint_url or None)

    @staticmethod
    def _bucket_key(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if not parsed.netloc:
            raise DatasetError(f"{uri} has no bucket: use s3://bucket/prefix")
        return parsed.netloc, parsed.path.lstrip("/")

    def put(self, uri: str, data: bytes, content_type: str) -> None:
        if uri.startswith("s3://"):
            bucket, key = self._bucket_key(uri)
            try:
                self._s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
            except Exception as error:  # botocore raises many types; one sentence for the operator
                raise DatasetError(f"cannot write {uri}: {error}") from error
            return
        write_atomically(Path(uri), data)

    def get(self, uri: str) -> bytes:
        if uri.startswith("s3://"):
            bucket, key = self._bucket_key(uri)
            try:
                return bytes(self._s3().get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception as error:
                raise DatasetError(f"cannot read {uri}: {error}") from error
        try:
            return Path(uri).read_bytes()
        except OSError as error:
            raise DatasetError(f"cannot read {uri}: {error}") from error


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` so that readers see the old file or the whole new one, even if writers race or crash.

    A temporary file with a unique name in the same folder, flushed to disk (fsync), then renamed over
    ``path``; the folder is synced so the rename survives a crash. A crash leaves at most a hidden
    ``.<name>.*.tmp`` file, never a half-written ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def to_parquet(frame: pd.DataFrame) -> bytes:
    """Deterministic Parquet bytes of ``frame`` (no index)."""
    import pyarrow as pa  # pyarrow takes a second to import: only when a file is written or read
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


def export_splits(
    splits: Mapping[str, pd.DataFrame],
    *,
    uri: str,
    target: str,
    s3_endpoint_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write every split and its manifest under ``uri``; the manifest (with its ``uri``)."""
    location = Location(uri, s3_endpoint_url)
    files = {name: to_parquet(frame) for name, frame in splits.items()}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    fingerprint = json.dumps({"target": target, "files": digests}, sort_keys=True).encode()
    version = hashlib.sha256(fingerprint).hexdigest()[:16]
    manifest: dict[str, Any] = {
        "data_version": version,
        "target": target,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "uri": location.child(version, MANIFEST_NAME),
        "splits": {},
        **(dict(extra) if extra else {}),
    }
    for name, frame in splits.items():
        file_uri = location.child(version, f"{name}.parquet")
        location.put(file_uri, files[name], "application/vnd.apache.parquet")
        manifest["splits"][name] = {
            "uri": file_uri,
            "rows": len(frame),
            "patients": int(frame["patient_nbr"].nunique()) if "patient_nbr" in frame else None,
            "positive_rate": round(float(frame["label"].mean()), 6) if "label" in frame and len(frame) else None,
            "columns": list(map(str, frame.columns)),
            "sha256": digests[name],
            "bytes": len(files[name]),
        }
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    location.put(manifest["uri"], body, "application/json")
    location.put(location.child(MANIFEST_NAME), body, "application/json")
    logger.info("exported data version %s to %s", version, manifest["uri"])
    return manifest


def read_manifest(uri: str, *, s3_endpoint_url: str | None = None) -> dict[str, Any]:
    """A manifest by its URI, or the latest one when ``uri`` is the dataset root."""
    manifest_uri = uri if uri.endswith(".json") else Location(uri).child(MANIFEST_NAME)
    data = Location(uri, s3_endpoint_url).get(manifest_uri)
    try:
        return dict(json.loads(data))
    except ValueError as error:
        raise DatasetError(f"{manifest_uri} is not a JSON manifest: {error}") from error


def load_split(manifest: Mapping[str, Any], name: str, *, s3_endpoint_url: str | None = None) -> pd.DataFrame:
    """One split of a manifest as a DataFrame, after checking its SHA-256."""
    import pyarrow.parquet as pq  # pyarrow takes a second to import: only when a file is read

    try:
        entry = manifest["splits"][name]
    except KeyError as error:
        raise DatasetError(f"the manifest has no split {name!r}") from error
    data = Location(entry["uri"], s3_endpoint_url).get(entry["uri"])
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise DatasetError(f"{entry['uri']} does not match the SHA-256 in its manifest")
    return pq.read_table(io.BytesIO(data)).to_pandas()
