"""The fast path's generated code vs the classifier's ``predict_proba`` on arrays, one record at a time.

Fits the seed bag the training makes (``hist_gb`` family, patient-grouped split of the
genuine data; ``--rows`` training rows), then, with one thread as the API runs, scores
``--records`` validation records one by one: the generated function on the encoded row, the fitted classifier's
``predict_proba`` on the same row as a 1x``n`` array, and, end to end from the raw record,
``FastPredictor.predict_record`` vs the pipeline's ``predict_proba`` on a one-row frame.

    .venv/bin/python -m benchmarks.fastpath [--rows 20000] [--records 500]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from readmission import features, modeling, schema, split
from readmission.config import DATA_CSV
from readmission.data_api.loading import read_raw_csv, to_records
from readmission.serving.fastpath import FastPredictor


def timed(items: list, function: Callable[[object], object]) -> float:
    """Microseconds per item of ``function`` over ``items`` (best of 3 rounds)."""
    best = np.inf
    for _ in range(3):
        started = time.perf_counter()
        for item in items:
            function(item)
        best = min(best, (time.perf_counter() - started) / len(items) * 1e6)
    return float(best)


def main() -> None:
    with threadpool_limits(limits=1):  # as the API runs (OMP_NUM_THREADS=1): threads only spin for one row
        _main()


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="training rows")
    parser.add_argument("--records", type=int, default=500, help="records scored one by one")
    args = parser.parse_args()

    parts = split.split(features.clean(read_raw_csv(DATA_CSV)).frame)
    train = parts["train"].head(args.rows)
    result = modeling.sweep(train, parts["validation"], families=(modeling.HIST_GB,), max_configurations=None)
    pipeline = result.best.pipeline
    predictor = FastPredictor(pipeline)
    records = to_records(parts["validation"].head(args.records))
    predictor.verify(records[:200])
    print(f"model: {result.best.label}; fast path {predictor.kind}; cores {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip

    encoder, classifier, score = predictor._encoder, predictor._classifier, predictor._score
    if encoder is None or score is None:
        raise SystemExit(f"the model was not compiled ({predictor.kind})")
    rows = [encoder.encode(features.engineer_record(r)) for r in records]
    arrays = [np.asarray(row).reshape(1, -1) for row in rows]
    generated = timed(rows, score)
    on_arrays = timed(arrays, lambda a: classifier.predict_proba(a)[0, 1])
    print(f"classifier, one encoded row : generated code {generated:9.1f} us   "
          f"predict_proba on a 1-row array {on_arrays:9.1f} us   gain {on_arrays / generated:6.1f}x")  # fmt: skip

    frames = [pd.DataFrame([r], columns=list(schema.INPUT_COLUMNS)) for r in records[:100]]
    fast = timed(records, predictor.predict_record)
    whole = timed(frames, lambda f: pipeline.predict_proba(f)[0, 1])
    print(f"raw record end to end       : FastPredictor {fast:12.1f} us   "
          f"pipeline.predict_proba 1-row frame {whole:6.1f} us   gain {whole / fast:6.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
