"""Exact (path-dependent) TreeSHAP of scikit-learn's histogram gradient boosting, in NumPy.

Why not ``shap.TreeExplainer``: it computes the same values (the tests check it to
1e-12), but ``import shap`` loads numba and llvmlite, about 190 MB of the
inference image for one C routine. This module needs NumPy only.

The method. A tree's output is the sum over its leaves of ``value * [x reaches
the leaf]``. Path-dependent TreeSHAP (Lundberg et al. 2020) scores a leaf's path
with the game ``v(S) = value * prod_{k in S} o_k * prod_{k not in S} z_k`` over
the path's distinct features ``k``, where ``o_k`` is 1 when ``x`` satisfies every
split on ``k`` along the path and ``z_k`` is the share of training rows that took
those splits (the product of the child/parent counts). Its Shapley value for
feature ``i`` is

    phi_i = value * (o_i - z_i) * integral_0^1 prod_{k != i} (z_k + u (o_k - z_k)) du

(the Shapley weights ``s! (n-1-s)! / n!`` are the Beta integrals of ``u^s
(1-u)^(n-1-s)``; cf. Yu et al. 2022, "Linear TreeShap"). The integrand is a
polynomial of degree ``n - 1``, so Gauss-Legendre quadrature with ``ceil(n / 2)``
nodes is exact. Paths are grouped by their number of distinct features, and each
group is evaluated for all rows at once as two tensor contractions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GROUP_WIDTH = 4
"""Paths are padded to a multiple of this many features and evaluated group by group."""
ROW_CHUNK = 8
"""Rows explained per contraction (bounds the temporary arrays at a few MB per path group)."""


class UnsupportedTreeError(ValueError):
    """The tree has a split this module does not explain (categorical splits)."""


@dataclass(frozen=True)
class _Path:
    features: tuple[int, ...]
    low: tuple[float, ...]  # x > low ...
    high: tuple[float, ...]  # ... and x <= high
    nan_ok: tuple[bool, ...]  # a missing value follows the path
    zero: tuple[float, ...]  # share of training rows that followed the splits on the feature
    value: float


def _leaf_paths(nodes: np.ndarray, scale: float) -> Iterator[_Path]:
    """Every leaf's path of one ``TreePredictor``'s nodes, its splits merged per feature."""
    if "is_categorical" in (nodes.dtype.names or ()) and bool(np.any(nodes["is_categorical"])):
        raise UnsupportedTreeError("categorical splits are not supported")
    stack: list[tuple[int, dict[int, tuple[float, float, bool, float]]]] = [(0, {})]
    while stack:
        index, splits = stack.pop()
        node = nodes[index]
        if node["is_leaf"]:
            merged = [splits[f] for f in splits]
            yield _Path(
                features=tuple(splits),
                low=tuple(m[0] for m in merged),
                high=tuple(m[1] for m in merged),
                nan_ok=tuple(m[2] for m in merged),
                zero=tuple(m[3] for m in merged),
                value=float(node["value"]) * scale,
            )
            continue
        feature, threshold = int(node["feature_idx"]), float(node["num_threshold"])
        for child, goes_left in ((int(node["left"]), True), (int(node["right"]), False)):
            low, high, nan_ok, zero = splits.get(feature, (-np.inf, np.inf, True, 1.0))
            split = (
                low if goes_left else max(low, threshold),
                min(high, threshold) if goes_left else high,
                nan_ok and bool(node["missing_go_to_left"]) == goes_left,
                zero * float(nodes[child]["count"]) / float(node["count"]),
            )
            stack.append((child, {**splits, feature: split}))


class _PathGroup:
    """Paths padded to the same number of features, as arrays (paths x features).

    A padding feature never splits (``zero`` 1, always followed): its factor is 1
    and its contribution 0.
    """

    def __init__(self, paths: Sequence[_Path], width: int) -> None:
        def padded(values: tuple[Any, ...], fill: Any) -> tuple[Any, ...]:
            return values + (fill,) * (width - len(values))

        self.feature = np.array([padded(p.features, 0) for p in paths], dtype=np.intp)
        self.low = np.array([padded(p.low, -np.inf) for p in paths], dtype=np.float64)
        self.high = np.array([padded(p.high, np.inf) for p in paths], dtype=np.float64)
        self.nan_ok = np.array([padded(p.nan_ok, True) for p in paths], dtype=bool)
        zero = np.array([padded(p.zero, 1.0) for p in paths], dtype=np.float64)
        self.value = np.array([p.value for p in paths], dtype=np.float64)
        nodes, weights = np.polynomial.legendre.leggauss((width + 1) // 2)
        u = (nodes + 1) / 2  # on [0, 1]
        self.weights = weights / 2
        # f_k(u) = z_k (1 - u) when x leaves the path at k, z_k + u (1 - z_k) when it follows it
        off = zero[None] * (1 - u)[:, None, None]  # quadrature nodes x paths x features
        on = zero[None] + u[:, None, None] * (1 - zero[None])
        self.log_off_total = np.log(off).sum(axis=2)  # nodes x paths
        self.log_ratio = np.log(on) - np.log(off)  # following feature k multiplies the product by on/off
        self.inverse_on = 1.0 / on
        self.leave_weights = -self.weights / (1 - u)
        self.one_minus_zero = 1 - zero
        self.size = self.feature.size

    def contributions(self, follows: np.ndarray) -> np.ndarray:
        """Rows x paths x features: each path feature's Shapley value."""
        on = follows.astype(np.float64)
        # prod_k f_k(u) for every row, node and path, through logs: one contraction
        total = np.exp(self.log_off_total[None] + np.einsum("rpk,gpk->rgp", on, self.log_ratio))
        weighted = total * self.weights[None, :, None]  # rows x nodes x paths
        # followed feature k: (1 - z_k) * sum_g w_g total_g / f_k(u_g)
        followed = np.einsum("rgp,gpk->rpk", weighted, self.inverse_on) * self.one_minus_zero
        # left feature k: f_k = z_k (1 - u), so (0 - z_k) * sum_g w_g total_g / f_k = -sum_g w_g total_g / (1 - u_g)
        left = np.einsum("rgp,g->rp", total, self.leave_weights)
        return np.where(follows, followed, left[:, :, None]) * self.value[None, :, None]


class TreeShap:
    """Exact TreeSHAP of the mean raw output (log-odds) of fitted ``HistGradientBoostingClassifier`` members."""

    def __init__(self, members: Sequence[Any]) -> None:
        scale = 1.0 / len(members)
        paths: list[_Path] = []
        expected = 0.0
        for member in members:
            if len(member._predictors[0]) != 1:
                raise UnsupportedTreeError("binary classifiers only (one tree per iteration)")
            expected += float(np.ravel(member._baseline_prediction)[0]) * scale
            for (predictor,) in member._predictors:
                for path in _leaf_paths(predictor.nodes, scale):
                    expected += path.value * float(np.prod(path.zero))
                    if path.features:  # a single-leaf tree only moves the expected value
                        paths.append(path)
        self.expected_value = expected
        self.n_features = int(members[0].n_features_in_)
        by_width: dict[int, list[_Path]] = {}
        for path in paths:  # fewer, padded groups: fewer NumPy calls per row for a little more arithmetic
            by_width.setdefault(-(-len(path.features) // GROUP_WIDTH) * GROUP_WIDTH, []).append(path)
        self.groups = [_PathGroup(group, width) for width, group in sorted(by_width.items())]
        self._feature = np.concatenate([group.feature.ravel() for group in self.groups])
        self._low = np.concatenate([group.low.ravel() for group in self.groups])
        self._high = np.concatenate([group.high.ravel() for group in self.groups])
        self._nan_ok = np.concatenate([group.nan_ok.ravel() for group in self.groups])
        self._ends = np.cumsum([group.size for group in self.groups])[:-1]

    def shap_values(self, encoded: np.ndarray) -> np.ndarray:
        """Rows x encoded columns: contributions that add up to ``raw output - expected_value``."""
        encoded = np.asarray(encoded, dtype=np.float64)
        if encoded.ndim != 2 or encoded.shape[1] != self.n_features:
            raise ValueError(f"expected rows x {self.n_features} encoded columns, got shape {encoded.shape}")
        out = np.empty(encoded.shape, dtype=np.float64)
        for start in range(0, len(encoded), ROW_CHUNK):
            chunk = encoded[start : start + ROW_CHUNK]
            rows, columns = chunk.shape
            x = chunk[:, self._feature]  # rows x every path feature of every group
            follows = ((x > self._low) & (x <= self._high)) | (np.isnan(x) & self._nan_ok)
            parts = np.split(follows, self._ends, axis=1)
            phi = np.concatenate(
                [
                    group.contributions(part.reshape(rows, *group.feature.shape)).reshape(rows, -1)
                    for group, part in zip(self.groups, parts, strict=True)
                ],
                axis=1,
            )
            index = self._feature[None] + (np.arange(rows) * columns)[:, None]
            out[start : start + rows] = np.bincount(index.ravel(), phi.ravel(), rows * columns).reshape(rows, columns)
        return out
