"""The shipped data is the UCI release, byte for byte."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from readmission.config import REPO_ROOT

pytestmark = pytest.mark.data

DATA_DIR = REPO_ROOT / "ec2_api" / "data"


def expected_sums() -> dict[str, str]:
    sums = {}
    for line in (DATA_DIR / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def sha256(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path, *, gzipped: bool = False) -> Iterator[bytes]:
    with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk


def test_sha256sums_lists_both_files() -> None:
    assert set(expected_sums()) == {"diabetic_data.csv", "IDS_mapping.csv"}


def test_decompressed_csv_matches_its_checksum() -> None:
    actual = sha256(file_chunks(DATA_DIR / "diabetic_data.csv.gz", gzipped=True))
    assert actual == expected_sums()["diabetic_data.csv"]


def test_ids_mapping_matches_its_checksum() -> None:
    assert sha256(file_chunks(DATA_DIR / "IDS_mapping.csv")) == expected_sums()["IDS_mapping.csv"]


def test_packaged_ids_mapping_is_the_same_file() -> None:
    packaged = REPO_ROOT / "src" / "readmission" / "resources" / "IDS_mapping.csv"
    assert packaged.read_bytes() == (DATA_DIR / "IDS_mapping.csv").read_bytes()
