"""Why this patient: exact tree contributions (SHAP) summed back to the raw fields a clinician knows.

``treeshap.TreeShap`` computes exact Shapley values (path-dependent TreeSHAP, the
values of ``shap.TreeExplainer``) of the histogram gradient-boosting members on
the encoded row, in log-odds. The seed bag's
explained output is the mean of its members' log-odds (``raw_output``), so the
contributions are the mean of the members' contributions and add up exactly:
``expected_value + sum(contributions) == raw_output``. Calibration is a
monotone map applied after it and does not change the ranking of factors.
Encoded columns (one-hot levels, target-encoded codes, scaled counts) are
summed back to the engineered feature they came from, and engineered features
to their raw field (``FEATURE_SOURCES``): e.g. ``diag_1_group`` and
``diag_1_code`` both belong to ``diag_1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from readmission import codes, schema
from readmission.treeshap import TreeShap, UnsupportedTreeError

MEDICATIONS_FACTOR = "diabetes_medications"
PRIOR_VISITS_FACTOR = "prior_visits"
FEATURE_SOURCES: dict[str, str] = {
    "age_years": "age",
    "prior_visits": PRIOR_VISITS_FACTOR,
    "drugs_in_use": MEDICATIONS_FACTOR,
    "drugs_increased": MEDICATIONS_FACTOR,
    "drugs_decreased": MEDICATIONS_FACTOR,
    "glucose_level": "max_glu_serum",
    "glucose_measured": "max_glu_serum",
    "a1c_level": "A1Cresult",
    "a1c_measured": "A1Cresult",
    "diabetes_primary": "diag_1",
    "diabetes_med": "diabetesMed",
    "medication_changed": "change",
    **{f"diag_{i}_{kind}": f"diag_{i}" for i in (1, 2, 3) for kind in ("group", "code")},
    **{name: column for column, group, code in codes.ID_FEATURES for name in (group, code)},
}
"""Engineered feature -> the raw field (or the named group of raw fields) it is computed from;
features missing here are raw fields themselves."""
FACTOR_DESCRIPTIONS: dict[str, str] = {
    PRIOR_VISITS_FACTOR: "Visits of any kind in the year before (outpatient + emergency + inpatient)",
    MEDICATIONS_FACTOR: "Diabetes medications in use and their dose changes",
}


class UnexplainableModelError(Exception):
    """The model has no tree ensemble the explainer understands."""


def factor_of(feature: str) -> str:
    return FEATURE_SOURCES.get(feature, feature)


def factor_description(factor: str) -> str:
    if factor in FACTOR_DESCRIPTIONS:
        return FACTOR_DESCRIPTIONS[factor]
    return schema.BY_NAME[factor].description if factor in schema.BY_NAME else factor


def _tree_members(classifier: Any) -> list[Any]:
    """The histogram gradient-boosting members whose mean log-odds is the explained output."""
    from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier
    from sklearn.frozen import FrozenEstimator

    inner = getattr(classifier, "estimator", None) if hasattr(classifier, "calibrate") else classifier
    if isinstance(inner, FrozenEstimator):
        inner = inner.estimator
    members = inner.estimators_ if isinstance(inner, VotingClassifier) else [inner]
    members = [m.estimator if isinstance(m, FrozenEstimator) else m for m in members]
    if not members or not all(isinstance(m, HistGradientBoostingClassifier) for m in members):
        raise UnexplainableModelError(f"cannot explain {type(inner).__name__}: histogram gradient boosting only")
    return members


def _encoded_sources(encoder: Any) -> list[str]:
    """For every output column of the fitted ``ColumnTransformer``, the engineered feature it encodes."""
    sources: list[str] = [""] * int(sum(s.stop - s.start for s in encoder.output_indices_.values()))
    for name, fitted, columns in encoder.transformers_:
        out = encoder.output_indices_[name]
        if fitted == "drop" or out.stop == out.start:
            continue
        columns = list(columns)
        width = out.stop - out.start
        if width == len(columns):
            names = columns
        else:  # one-hot: "<column>_<level>"; the longest column name that prefixes the output name
            outputs = [str(n) for n in fitted.get_feature_names_out(columns)]
            names = [max((c for c in columns if o.startswith(f"{c}_")), key=len) for o in outputs]
        sources[out.start : out.stop] = names
    return sources


@dataclass(frozen=True)
class Factor:
    field: str
    description: str
    value: Any
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "description": self.description, "value": self.value,
                "contribution": self.contribution}  # fmt: skip


class Explainer:
    """Exact per-field contributions (log-odds) of a fitted ``Pipeline([features, encode, model])``."""

    def __init__(self, pipeline: Any) -> None:
        (_, self.features_step), (_, self.encoder), (_, classifier) = pipeline.steps
        self.members = _tree_members(classifier)
        try:
            self.tree_shap = TreeShap(self.members)
        except UnsupportedTreeError as error:
            raise UnexplainableModelError(str(error)) from error
        self.expected_value = self.tree_shap.expected_value
        sources = [factor_of(feature) for feature in _encoded_sources(self.encoder)]
        self.factors: list[str] = list(dict.fromkeys(sources))
        index = {factor: i for i, factor in enumerate(self.factors)}
        # encoded column -> factor, as a 0/1 matrix: contributions @ matrix sums columns per factor
        self._sum = np.zeros((len(sources), len(self.factors)))
        self._sum[np.arange(len(sources)), [index[s] for s in sources]] = 1.0

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.encoder.transform(self.features_step.transform(frame)), dtype=np.float64)

    def raw_output(self, encoded: np.ndarray) -> np.ndarray:
        """The explained output: the members' mean log-odds."""
        return np.mean([m.decision_function(encoded) for m in self.members], axis=0)

    def encoded_contributions(self, encoded: np.ndarray) -> np.ndarray:
        """Rows x encoded columns: the members' mean SHAP values."""
        return self.tree_shap.shap_values(encoded)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows x factors (raw fields): signed contributions in log-odds."""
        encoded = self.encode(frame[list(schema.INPUT_COLUMNS)])
        return pd.DataFrame(self.encoded_contributions(encoded) @ self._sum, columns=self.factors, index=frame.index)

    def top_factors(self, frame: pd.DataFrame, top: int = 5) -> list[list[dict[str, Any]]]:
        """Per row, the ``top`` factors by absolute contribution, with the record's raw value."""
        return self.top_factors_encoded(self.encode(frame[list(schema.INPUT_COLUMNS)]), frame, top)

    def top_factors_encoded(
        self, encoded: np.ndarray, records: pd.DataFrame | Sequence[Mapping[str, Any]], top: int = 5
    ) -> list[list[dict[str, Any]]]:
        """``top_factors`` of rows already encoded (e.g. by the serving fast path's compiled encoder); ``records``
        are their raw rows, as a frame or as mappings (one record needs no frame: building one costs ms)."""
        table = self.encoded_contributions(encoded) @ self._sum
        rows: Sequence[Mapping[Any, Any]] = records.to_dict("records") if isinstance(records, pd.DataFrame) else records
        out = []
        for row, record in zip(table, rows, strict=True):
            order = np.argsort(-np.abs(row), kind="stable")[:top]
            values = {str(k): v for k, v in record.items()}
            out.append([self._factor(self.factors[i], float(row[i]), values).as_dict() for i in order])
        return out

    def _factor(self, factor: str, contribution: float, record: Mapping[str, Any]) -> Factor:
        return Factor(factor, factor_description(factor), _value(factor, record), contribution)


def _value(factor: str, record: Mapping[str, Any]) -> Any:
    if factor == PRIOR_VISITS_FACTOR:
        return sum(int(record[c]) for c in ("number_outpatient", "number_emergency", "number_inpatient"))
    if factor == MEDICATIONS_FACTOR:
        changed: Sequence[str] = [d for d in schema.MEDICATIONS if record.get(d) not in (None, "No")]
        return ", ".join(f"{d} {record[d]}" for d in changed) or "none"
    value = record.get(factor)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
