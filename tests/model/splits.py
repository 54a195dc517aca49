"""Small patient-grouped splits of the genuine data for model tests (test-only split rule)."""

from __future__ import annotations

import hashlib

import pandas as pd

from readmission import features


def patient_bucket(patient_nbr: int) -> int:
    """A stable bucket 0-99 per patient (sha256 of the number)."""
    return int(hashlib.sha256(str(int(patient_nbr)).encode()).hexdigest()[:8], 16) % 100


def grouped_splits(raw: pd.DataFrame, *, train_rows: int | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Clean ``raw`` and split it 70/15/15 by patient; optionally subsample each split (train to ``train_rows``)."""
    clean = features.clean(raw).frame
    bucket = clean["patient_nbr"].map(patient_bucket)
    splits = {
        "train": clean[bucket < 70],
        "validation": clean[(bucket >= 70) & (bucket < 85)],
        "test": clean[bucket >= 85],
    }
    if train_rows is not None:
        sizes = {"train": train_rows, "validation": train_rows // 2, "test": train_rows // 2}
        splits = {
            name: frame.sample(n=min(sizes[name], len(frame)), random_state=seed) for name, frame in splits.items()
        }
    return {name: frame.reset_index(drop=True) for name, frame in splits.items()}
