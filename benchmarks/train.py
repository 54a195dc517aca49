"""Training benchmark: one fit of the original GradientBoosting vs the candidate sweep, same split.

On the genuine data (cleaned, death/hospice excluded, target from READMISSION_TARGET,
patient-grouped split by ``readmission.split``) this times one end-to-end fit of the
original ``GradientBoostingClassifier(n_estimators=200, learning_rate=0.05, max_depth=3)``
pipeline and, separately, the candidate sweep without the baseline (logistic + the
HistGradientBoosting search, ``TRAIN_MAX_CONFIGURATIONS`` candidates per family), then prints both times
and both test ROC-AUCs. The champion is chosen on validation only; the test split is only reported.

    .venv/bin/python -m benchmarks.train
"""

from __future__ import annotations

import os
import time

from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from readmission import features, modeling, schema, split
from readmission.config import DATA_CSV, get_settings
from readmission.data_api.loading import read_raw_csv
from readmission.modeling import search


def main() -> None:
    settings = get_settings()
    raw = read_raw_csv(DATA_CSV)
    clean = features.clean(raw, settings.readmission_target).frame
    splits = split.split(clean)
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    x_test, y_test = test[list(schema.INPUT_COLUMNS)], test["label"].to_numpy()
    print(
        f"rows: train {len(train):,}  validation {len(validation):,}  test {len(test):,}  "
        f"target {settings.readmission_target}  cores {os.cpu_count()}  load {os.getloadavg()[0]:.1f}"
    )

    with threadpool_limits(limits=1):
        started = time.perf_counter()
        baseline = modeling.fit_baseline(train, top_specialties=settings.top_specialties, seed=settings.random_seed)
        baseline_seconds = time.perf_counter() - started
        baseline_auc = roc_auc_score(y_test, baseline.predict_proba(x_test)[:, 1])
    print(
        f"baseline GradientBoosting(200, 0.05, depth 3) fit: {baseline_seconds:7.1f} s  test ROC-AUC {baseline_auc:.4f}"
    )

    families = [name for name in modeling.CANDIDATES if name != modeling.BASELINE]
    result = search.sweep_with(train, validation, settings=settings, families=families)
    for candidate in result.candidates:
        print(f"  {candidate.label:<95} val ROC-AUC {candidate.val_roc_auc:.4f}  {candidate.fit_seconds:6.1f} s")
    if result.skipped:
        print(f"  not tried (TRAIN_MAX_CONFIGURATIONS={settings.train_max_configurations}): {len(result.skipped)}")
    best = result.best
    with threadpool_limits(limits=1):
        best_auc = roc_auc_score(y_test, best.pipeline.predict_proba(x_test)[:, 1])
    baseline_val = roc_auc_score(
        validation["label"].to_numpy(), baseline.predict_proba(validation[list(schema.INPUT_COLUMNS)])[:, 1]
    )
    champion, champion_auc = (best.label, best_auc) if best.val_roc_auc >= baseline_val else ("baseline", baseline_auc)
    print(f"candidate sweep (without the baseline): {result.seconds:7.1f} s   best {best.label}")
    print(f"  best candidate test ROC-AUC {best_auc:.4f} (val {best.val_roc_auc:.4f}; baseline val {baseline_val:.4f})")
    print(f"champion by validation ROC-AUC: {champion}  test ROC-AUC {champion_auc:.4f}")
    print(
        f"goals: sweep <= baseline fit: {result.seconds <= baseline_seconds} "
        f"({result.seconds:.1f} s vs {baseline_seconds:.1f} s); champion test ROC-AUC >= 0.70: {champion_auc >= 0.70}; "
        f">= baseline: {champion_auc >= baseline_auc}"
    )


if __name__ == "__main__":
    main()
