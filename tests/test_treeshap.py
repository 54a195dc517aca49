"""The NumPy TreeSHAP equals shap's TreeExplainer (the reference, a test dependency only)."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from readmission.treeshap import TreeShap, UnsupportedTreeError


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Rows with interactions, repeated splits on a feature, integer codes and missing values."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 8))
    x[:, 5] = rng.integers(0, 4, size=3000)  # a small code: many splits on the same feature along a path
    x[rng.random(x.shape) < 0.05] = np.nan
    signal = np.nan_to_num(x[:, 0] * x[:, 1]) + np.nan_to_num(x[:, 2]) ** 2 - np.isnan(x[:, 3]) + np.nan_to_num(x[:, 5])
    y = (signal + rng.normal(scale=0.5, size=3000) > 0.5).astype(int)
    return x, y


def reference(members: list[HistGradientBoostingClassifier], x: np.ndarray) -> tuple[np.ndarray, float]:
    explainers = [shap.TreeExplainer(m) for m in members]
    values = np.mean(
        [np.asarray(e.shap_values(x, check_additivity=False)).reshape(x.shape) for e in explainers], axis=0
    )
    return values, float(np.mean([np.ravel(e.expected_value)[0] for e in explainers]))


@pytest.mark.parametrize("leaves", [3, 15, 63])
def test_values_equal_shaps_tree_explainer(data, leaves):
    x, y = data
    members = [
        HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=leaves, random_state=seed).fit(x, y)
        for seed in (1, 2, 3)
    ]
    explainer = TreeShap(members)
    values, expected = reference(members, x[:200])
    assert explainer.expected_value == pytest.approx(expected, abs=1e-12)
    mine = explainer.shap_values(x[:200])
    assert np.abs(mine - values).max() < 1e-12
    raw = np.mean([m.decision_function(x[:200]) for m in members], axis=0)  # additivity, missing values included
    assert np.abs(mine.sum(axis=1) + explainer.expected_value - raw).max() < 1e-12
    assert np.abs(explainer.shap_values(x[:1]) - values[:1]).max() < 1e-12  # one row: the API's case


def test_a_feature_outside_every_split_gets_nothing(data):
    x, y = data
    x = x.copy()
    x[:, 7] = 0.0  # constant: never split on
    member = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
    assert np.all(TreeShap([member]).shap_values(x[:50])[:, 7] == 0)


def test_refuses_what_it_cannot_explain(data):
    x, y = data
    categorical = HistGradientBoostingClassifier(max_iter=5, categorical_features=[5]).fit(np.nan_to_num(x), y)
    with pytest.raises(UnsupportedTreeError, match="categorical"):
        TreeShap([categorical])
    regressor = HistGradientBoostingRegressor(max_iter=5).fit(np.nan_to_num(x), y)
    explainer = TreeShap([regressor])  # one tree per iteration: explained as its raw output
    assert np.allclose(explainer.shap_values(x[:5]).sum(axis=1) + explainer.expected_value, regressor.predict(x[:5]))
    with pytest.raises(ValueError, match="encoded columns"):
        explainer.shap_values(x[:5, :3])
