"""Both outcomes on the genuine data: discrimination, calibration and risk bands against the issue's goals.

For `any` and `within_30_days`: the patient-grouped split of the cleaned data (death/hospice
excluded), the candidate sweep without the slow baseline, the best candidate calibrated on
validation (``modeling.report.evaluate``, as training does) and printed: test ROC-AUC with its
patient-clustered 95 % interval, the calibration method, validation/test ECE, and per band the
share of patients and the observed rate as a multiple of the base rate.

    .venv/bin/python -m benchmarks.outcomes
"""

from __future__ import annotations

import os
import time

from threadpoolctl import threadpool_limits

from readmission import features, modeling, split
from readmission.config import DATA_CSV, get_settings
from readmission.data_api.loading import read_raw_csv
from readmission.modeling import search
from readmission.modeling.report import evaluate
from readmission.modeling.train import relabel

AUC_GOALS = {"any": 0.70, "within_30_days": 0.66}


def main() -> None:
    settings = get_settings()
    splits = split.split(features.clean(read_raw_csv(DATA_CSV)).frame)
    print(f"rows: {', '.join(f'{k} {len(v):,}' for k, v in splits.items())}  cores {os.cpu_count()}  "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    families = [name for name in modeling.CANDIDATES if name != modeling.BASELINE]
    for target in features.TARGETS:
        train, validation, test = (relabel(splits[name], target) for name in ("train", "validation", "test"))
        started = time.perf_counter()
        with threadpool_limits(limits=1):
            best = search.sweep_with(train, validation, settings=settings, families=families).best
            report = evaluate(best.pipeline, validation=validation, test=test, seed=settings.random_seed,
                              target=target, base_rate=float(train["label"].mean()))  # fmt: skip
        m, auc = report.metrics, report.intervals["roc_auc"]
        print(f"\n{target}: {best.label}  ({time.perf_counter() - started:.0f} s)")
        print(f"  test ROC-AUC {auc.estimate:.4f} [{auc.low:.4f}, {auc.high:.4f}]  goal >= {AUC_GOALS[target]}: "
              f"{auc.estimate >= AUC_GOALS[target]}")  # fmt: skip
        print(
            f"  calibration {report.calibration['method']}  (cross-fitted validation Brier: "
            + ", ".join(f"{k} {v:.5f}" for k, v in report.calibration["briers"].items())
            + ")"
        )
        print(f"  ECE validation {m['val_ece']:.4f} (goal <= 0.02: {m['val_ece'] <= 0.02})  test {m['test_ece']:.4f}; "
              f"slope {m['test_calibration_slope']:.3f} intercept {m['test_calibration_intercept']:+.3f}")  # fmt: skip
        bands = report.bands
        assert bands is not None
        print(f"  base rate {bands.base_rate:.4f}; medium > {bands.medium_from:.4f}; high >= {bands.high_from:.4f}")
        for split_name, table in report.band_tables.items():
            cells = "  ".join(
                f"{row.band} {row.share:.1%} of patients, rate {row.observed_rate:.3f} ({row.rate_vs_base:.2f}x)"
                for row in table.itertuples()
            )
            print(f"  {split_name:<4} {cells}")
        high = report.band_tables["test"].set_index("band").loc["high"]
        multiple = 1.4 if target == "any" else 1.5
        print(f"  goals (test): high share <= 20 %: {high['share'] <= 0.2}; "
              f"high rate >= {multiple}x base: {high['rate_vs_base'] >= multiple}")  # fmt: skip


if __name__ == "__main__":
    main()
