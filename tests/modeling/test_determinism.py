"""Deterministic training: the same data and settings give the same candidates, models and metrics,
whatever the machine's load (the search budget counts configurations, never seconds)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from readmission import schema
from readmission.modeling import candidates, search
from readmission.modeling.report import evaluate

pytestmark = pytest.mark.model

BUSY_LOOP = "while True:\n    pass\n"


@contextmanager
def cpu_load() -> Iterator[subprocess.Popen[bytes]]:
    """A busy Python process for the duration of the block (the machine's load goes up by one)."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        yield busy
    finally:
        busy.kill()
        busy.wait()


def train_once(splits: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The search and the evaluation of its best candidate, as ``train_and_log`` composes them."""
    result = search.sweep(
        splits["train"], splits["validation"], families=(candidates.LOGISTIC, candidates.HIST_GB), seed=42
    )
    report = evaluate(result.best.pipeline, validation=splits["validation"], test=splits["test"], seed=42,
                      replicates=200)  # fmt: skip
    assert report.pipeline is not None
    x_test = splits["test"][list(schema.INPUT_COLUMNS)]
    return {
        "leaderboard": [(c.name, c.label, c.val_metrics) for c in result.candidates],
        "skipped": result.skipped,
        "best": result.best.name,
        "metrics": report.metrics,
        "threshold": report.threshold,
        "intervals": report.intervals,
        "calibration": report.calibration,
        "predictions": report.pipeline.predict_proba(x_test)[:, 1],
    }


def test_two_trainings_one_under_cpu_load_give_identical_models_and_metrics(small_splits) -> None:
    quiet = train_once(small_splits)
    with cpu_load() as busy:
        loaded = train_once(small_splits)
        assert busy.poll() is None  # the load lasted the whole second training
    assert [name for name, _, _ in quiet["leaderboard"]] == ["logistic_1", "hist_gb_1", "hist_gb_2", "hist_gb_3",
                                                             "hist_gb_bag"]  # fmt: skip
    assert quiet["skipped"] == loaded["skipped"] == []
    assert loaded["leaderboard"] == quiet["leaderboard"]
    assert loaded["best"] == quiet["best"]
    assert loaded["metrics"] == quiet["metrics"]  # every metric, bit for bit
    assert loaded["threshold"] == quiet["threshold"]
    assert loaded["intervals"] == quiet["intervals"]
    assert loaded["calibration"] == quiet["calibration"]
    assert np.array_equal(loaded["predictions"], quiet["predictions"])
    assert "test_roc_auc_ci_low" in quiet["metrics"]
    assert len(quiet["metrics"]) > 20
