"""Small patient-grouped splits of the genuine data for model tests (the data layer's split rule)."""

from __future__ import annotations

import pandas as pd

from readmission import features, split


def grouped_splits(raw: pd.DataFrame, *, train_rows: int | None = None, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Clean ``raw``, split it by patient (``split.split``), optionally subsample (validation/test: half of train)."""
    splits = split.split(features.clean(raw).frame)
    if train_rows is not None:
        sizes = {"train": train_rows, "validation": train_rows // 2, "test": train_rows // 2}
        splits = {
            name: frame.sample(n=min(sizes[name], len(frame)), random_state=seed) for name, frame in splits.items()
        }
    return {name: frame.reset_index(drop=True) for name, frame in splits.items()}
