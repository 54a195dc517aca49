"""Calibration metrics, risk bands, patient-clustered bootstrap and the promotion statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from readmission import evaluation


def _outcomes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.beta(2, 3, n)
    return (rng.random(n) < risk).astype(int), risk


def test_ece_is_small_for_calibrated_risk_and_measures_a_shift():
    y, risk = _outcomes(40_000)
    assert evaluation.expected_calibration_error(y, risk) < 0.01
    assert evaluation.expected_calibration_error(y, np.clip(risk + 0.1, 0, 1)) == pytest.approx(0.1, abs=0.015)


def test_calibration_slope_and_intercept():
    y, risk = _outcomes(40_000, seed=1)
    slope, intercept = evaluation.calibration_slope_intercept(y, risk)
    assert slope == pytest.approx(1.0, abs=0.06)
    assert intercept == pytest.approx(0.0, abs=0.05)
    overconfident = 1 / (1 + np.exp(-2 * evaluation.logit(risk)))
    slope, _ = evaluation.calibration_slope_intercept(y, overconfident)
    assert slope == pytest.approx(0.5, abs=0.05)
    assert set(evaluation.calibration_metrics(y, risk)) == {"ece", "calibration_slope", "calibration_intercept"}


def test_bands_follow_the_policy_and_cap_the_high_share():
    y, risk = _outcomes(20_000, seed=2)
    base = float(y.mean())
    bands = evaluation.fit_bands(base, risk, "any")
    assert bands.medium_from == base
    assert bands.high_from >= 1.4 * base
    table = evaluation.band_table(y, risk, bands).set_index("band")
    assert table.loc["high", "share"] <= evaluation.MAX_HIGH_SHARE
    assert table.loc["high", "rate_vs_base"] >= 1.4
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc["low", "observed_rate"] < base < table.loc["high", "observed_rate"]
    assert bands.band(bands.high_from) == "high"
    assert bands.band(base) == "low"
    assert bands.band(base + 1e-9) == "medium"
    assert evaluation.Bands.from_dict(bands.as_dict()) == bands
    metrics = evaluation.band_metrics("val", evaluation.band_table(y, risk, bands))
    assert metrics["val_band_high_share"] <= 0.2


def test_the_share_cap_holds_with_tied_risks():
    # isotonic calibration gives few distinct values: half the patients share the highest risk
    risk = np.array([0.9] * 50 + [0.5] * 10 + [0.2] * 40)
    bands = evaluation.fit_bands(0.3, risk, "within_30_days")
    assert (bands.bands(risk) == "high").mean() <= 0.2
    assert bands.high_from > 0.9


def test_cluster_weights_weigh_each_row_by_its_patients_draws():
    patients = np.array([7, 7, 7, 3, 3, 9])
    weights = evaluation.cluster_weights(patients, replicates=50, seed=0)
    assert weights.shape == (50, 6)
    for row in weights:
        assert row[0] == row[1] == row[2]
        assert row[3] == row[4]
        assert row[0] / 3 * 0 + row[[0, 3, 5]].sum() == 3  # three patients drawn per replicate


def test_clustered_interval_is_not_fooled_by_repeated_encounters():
    y, risk = _outcomes(2_000, seed=3)
    single = evaluation.bootstrap_intervals(y, risk, np.arange(len(y)), replicates=300, seed=0)
    # every patient five times: five times the rows but no more information
    repeated = evaluation.bootstrap_intervals(
        np.repeat(y, 5), np.repeat(risk, 5), np.repeat(np.arange(len(y)), 5), replicates=300, seed=0
    )
    naive = evaluation.bootstrap_intervals(np.repeat(y, 5), np.repeat(risk, 5), np.arange(5 * len(y)),
                                           replicates=300, seed=0)  # fmt: skip
    for name in ("roc_auc", "pr_auc", "brier"):
        interval = repeated[name]
        assert interval.low <= interval.estimate <= interval.high
        width = interval.high - interval.low
        assert width == pytest.approx(single[name].high - single[name].low, rel=0.3)
        assert naive[name].high - naive[name].low < 0.7 * width
    assert set(evaluation.interval_metrics("test", repeated)) == {
        f"test_{m}_ci_{side}" for m in ("roc_auc", "pr_auc", "brier") for side in ("low", "high")
    }


def _scores(n: int, signal: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    return y, 1 / (1 + np.exp(-(signal * (y - 0.4) + rng.normal(0, 1, n))))


def test_promotion_gate_rejects_worse_and_equal_models_and_promotes_a_clearly_better_one():
    y, _ = _scores(4_000, 1.0, 0)
    rng = np.random.default_rng(5)
    patients = np.repeat(np.arange(2_000), 2)
    champion = 1 / (1 + np.exp(-(1.0 * (y - 0.4) + rng.normal(0, 1, len(y)))))
    equal = 1 / (1 + np.exp(-(1.0 * (y - 0.4) + rng.normal(0, 1, len(y)))))  # the same model, another seed
    better = 1 / (1 + np.exp(-(2.0 * (y - 0.4) + rng.normal(0, 1, len(y)))))
    worse = 1 / (1 + np.exp(-(0.5 * (y - 0.4) + rng.normal(0, 1, len(y)))))

    def gate(challenger: np.ndarray) -> evaluation.Comparison:
        return evaluation.compare_models(y, challenger, champion, patients, min_delta=0.0, replicates=200)

    assert not gate(worse).promote
    same = gate(equal)
    assert not same.promote
    assert same.delta_low < 0 < same.delta_high
    clearly = gate(better)
    assert clearly.promote
    assert clearly.delta_low > 0
    assert clearly.challenger_brier < clearly.champion_brier
    assert "interval" in clearly.reason
    assert clearly.patients == 2_000
    assert clearly.as_tags()["promotion_promote"] == "True"
    # a higher ROC-AUC with a worse Brier score (badly calibrated) is not promoted
    uncalibrated = np.clip(better * 0.3, 0, 1)
    assert not gate(uncalibrated).promote
    # a minimum difference the gain does not clear
    assert not evaluation.compare_models(y, better, champion, patients, min_delta=0.5, replicates=200).promote


def test_group_results_only_for_groups_of_300_encounters_with_intervals():
    rng = np.random.default_rng(0)
    n = 1_500
    frame = pd.DataFrame(
        {
            "race": rng.choice(["Caucasian", "Asian"], n, p=[0.9, 0.1]),
            "gender": rng.choice(["Female", "Male"], n),
            "age": "[70-80)",
            "patient_nbr": rng.integers(0, 1_000, n),
        }
    )
    y, risk = _outcomes(n, seed=4)
    table = evaluation.group_results(frame, y, risk, 0.5, replicates=50)
    assert (table["n"] >= evaluation.MIN_GROUP_SIZE).all()
    assert "Asian" not in set(table["level"])
    assert {"Caucasian", "Female", "Male", "[70-80)"} <= set(table["level"])
    assert (table["roc_auc_low"] <= table["roc_auc"]).all()
    assert (table["roc_auc"] <= table["roc_auc_high"]).all()
    assert ((table["tpr"] >= 0) & (table["tpr"] <= 1) & (table["fpr"] <= table["tpr"])).all()
    assert np.allclose(table["predicted_rate"], [risk[frame[c] == v].mean() for c, v in
                                                 zip(table["group"], table["level"], strict=True)])  # fmt: skip


def test_vectorised_weighted_metrics_equal_scikit_learn():
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, risk = _outcomes(3_000, seed=6)
    risk = np.round(risk, 2)  # ties
    weights = evaluation.cluster_weights(np.arange(len(y)) // 3, replicates=5, seed=1)
    got = evaluation._Ranked(y, risk).metrics(weights, ("roc_auc", "pr_auc", "brier"))
    for k, w in enumerate(weights):
        assert got["roc_auc"][k] == pytest.approx(roc_auc_score(y, risk, sample_weight=w), abs=1e-12)
        assert got["pr_auc"][k] == pytest.approx(average_precision_score(y, risk, sample_weight=w), abs=1e-12)
        assert got["brier"][k] == pytest.approx(brier_score_loss(y, risk, sample_weight=w), abs=1e-12)
