"""Reproducible Lambda zips: the handler plus the boto3-only part of ``readmission.aws``.

Entries are sorted, time-stamped 1980-01-01 and given fixed permissions, so the
same sources give the same bytes (and the same ``CodeSha256`` in AWS).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import zipfile
from pathlib import Path

import readmission
from readmission.config import REPO_ROOT

logger = logging.getLogger(__name__)

LAMBDA_DIR = REPO_ROOT / "aws" / "lambda"
BUILD_DIR = REPO_ROOT / "aws" / "build"
HANDLERS = {"start": "start_ec2_instance.py", "stop": "stop_ec2_instance.py"}
PACKAGE_MODULES = (
    "__init__.py",
    "aws/__init__.py",
    "aws/selection.py",
    "aws/instances.py",
    "ec2.py",
    "aws/lambda_runtime.py",
)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _entry(name: str, data: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = (0o100644 & 0xFFFF) << 16
    return info, data


def lambda_zip_bytes(handler: Path, package_dir: Path | None = None) -> bytes:
    """The zip of one function: ``handler.py`` at the root and ``readmission/...``."""
    package = package_dir or Path(readmission.__file__).parent
    files = {handler.name: handler.read_bytes()}
    for module in PACKAGE_MODULES:
        files[f"readmission/{module}"] = (package / module).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info, data = _entry(name, files[name])
            archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """The digest Lambda reports as ``CodeSha256`` (base64 of SHA-256)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def build_zips(lambda_dir: Path = LAMBDA_DIR) -> dict[str, bytes]:
    """``{"start": zip bytes, "stop": zip bytes}`` built in memory."""
    return {action: lambda_zip_bytes(lambda_dir / name) for action, name in HANDLERS.items()}


def write_zips(out_dir: Path = BUILD_DIR, lambda_dir: Path = LAMBDA_DIR) -> dict[str, Path]:
    """Build both zips into ``out_dir`` (``<handler>.zip``) and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for action, data in build_zips(lambda_dir).items():
        path = out_dir / HANDLERS[action].replace(".py", ".zip")
        path.write_bytes(data)
        logger.info("built %s (%d bytes, sha256 %s)", path, len(data), code_sha256(data))
        paths[action] = path
    return paths
