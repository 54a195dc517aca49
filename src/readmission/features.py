"""Cleaning and feature engineering: the same code for a table and for one record.

``clean`` turns validated raw rows into ``diabetes_clean`` rows (missing markers
made explicit, death/hospice encounters excluded, the label added).
``engineer`` / ``engineer_record`` turn raw (or clean) records into model
features; ``RawRecordFeatures`` wraps ``engineer`` as the first, stateless step
of every logged model, so the API receives raw fields and never re-implements
any of this. Both paths share the code maps of :mod:`readmission.codes`, and a test
proves they agree on the whole data set.

A logged model calls this module by import path, so an edit here (or in the code
maps) changes what every saved model computes. :data:`FEATURE_VERSION` names the
code: training records it in each model's metadata and the API refuses a model
recorded with another version.
"""

from __future__ import annotations

import ast
import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from readmission import codes, schema
from readmission.codes import (
    A1C_ORDINAL,
    CODE_GROUPS,
    GLUCOSE_SERUM_ORDINAL,
    ID_FEATURES,
    MISSING_DIAGNOSIS,
    UNKNOWN,
    age_years,
    icd9_group,
)

# --------------------------------------------------------------------------- normalising

NORMALISED_MISSING: dict[str, str] = {
    "race": UNKNOWN,
    "weight": UNKNOWN,
    "payer_code": UNKNOWN,
    "medical_specialty": UNKNOWN,
}
"""Nullable categories whose missing value becomes an explicit level (never imputed)."""


def _normal_gender(value: object) -> str:
    return value if value in ("Female", "Male") else UNKNOWN


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# --------------------------------------------------------------------------- features

NUMERIC_FEATURES: tuple[str, ...] = (
    "age_years", "time_in_hospital", "num_lab_procedures", "num_procedures",
    "num_medications", "number_outpatient", "number_emergency", "number_inpatient",
    "prior_visits", "number_diagnoses", "drugs_in_use", "drugs_increased",
    "drugs_decreased", "glucose_level", "glucose_measured", "a1c_level", "a1c_measured",
    "diabetes_primary", "diabetes_med", "medication_changed",
)  # fmt: skip
CODE_FEATURES: tuple[str, ...] = (
    "diag_1_code", "diag_2_code", "diag_3_code", *(code for _, _, code in ID_FEATURES),
)  # fmt: skip
"""The detailed codes as text (ICD-9-CM as written or ``Missing``; IDS ids): hundreds of
levels each, so the encoder target-encodes them beside their groups."""
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "race", "gender", "admission_type", "admission_source", "discharge_disposition",
    "medical_specialty", "diag_1_group", "diag_2_group", "diag_3_group", "insulin", "metformin",
    *CODE_FEATURES,
)  # fmt: skip
FEATURE_COLUMNS: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
"""What the model's encoder sees. ``medical_specialty`` keeps every name here: the
fitted encoder keeps the top ``TOP_SPECIALTIES`` and folds the rest into Other."""

_DIAGNOSES = ("diag_1", "diag_2", "diag_3")
_COUNTS = (
    "time_in_hospital", "num_lab_procedures", "num_procedures", "num_medications",
    "number_outpatient", "number_emergency", "number_inpatient", "number_diagnoses",
)  # fmt: skip


def engineer_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Model features of one raw (or clean) record: the per-request fast path."""
    in_use = increased = decreased = 0
    for drug in schema.MEDICATIONS:
        level = record.get(drug)
        if level is not None and level != "No":
            in_use += 1
            increased += level == "Up"
            decreased += level == "Down"
    features: dict[str, Any] = {
        "age_years": age_years(record.get("age")),
        **{name: float(record[name]) for name in _COUNTS},
    }
    features["prior_visits"] = (
        features["number_outpatient"] + features["number_emergency"] + features["number_inpatient"]
    )
    glucose = GLUCOSE_SERUM_ORDINAL.get(record.get("max_glu_serum"), 0)
    a1c = A1C_ORDINAL.get(record.get("A1Cresult"), 0)
    diagnoses = [_text(record.get(name)) for name in _DIAGNOSES]
    diag_groups = [icd9_group(code) for code in diagnoses]
    features.update(
        drugs_in_use=float(in_use),
        drugs_increased=float(increased),
        drugs_decreased=float(decreased),
        glucose_level=float(glucose),
        glucose_measured=float(glucose > 0),
        a1c_level=float(a1c),
        a1c_measured=float(a1c > 0),
        diabetes_primary=float(diag_groups[0] == "Diabetes"),
        diabetes_med=float(record.get("diabetesMed") == "Yes"),
        medication_changed=float(record.get("change") == "Ch"),
        race=_text(record.get("race")) or UNKNOWN,
        gender=_normal_gender(record.get("gender")),
        medical_specialty=_text(record.get("medical_specialty")) or UNKNOWN,
        diag_1_group=diag_groups[0],
        diag_2_group=diag_groups[1],
        diag_3_group=diag_groups[2],
        insulin=_text(record.get("insulin")) or "No",
        metformin=_text(record.get("metformin")) or "No",
        diag_1_code=diagnoses[0] or MISSING_DIAGNOSIS,
        diag_2_code=diagnoses[1] or MISSING_DIAGNOSIS,
        diag_3_code=diagnoses[2] or MISSING_DIAGNOSIS,
    )
    for column, group, code in ID_FEATURES:
        value = _int(record.get(column))
        features[group] = CODE_GROUPS[column].get(value, UNKNOWN)
        features[code] = str(value)
    return features


def _text(value: object) -> str | None:
    return None if _is_missing(value) or value == "" else str(value)


def _int(value: object) -> int:
    return -1 if _is_missing(value) else int(value)  # type: ignore[call-overload]


def _map_values(series: pd.Series, func: Callable[[Any], Any]) -> np.ndarray:
    """Apply ``func`` once per distinct value (missing values are passed as None)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    results = [func(value) for value in uniques] + [func(None)]
    return np.asarray(results, dtype=object)[codes]


def _mapper(table: Mapping[str, Any], default: Any) -> Callable[[Any], Any]:
    return lambda value: default if value is None else table.get(value, default)


def _code_mapper(table: Mapping[int, str]) -> Callable[[Any], str]:
    return lambda value: table.get(_int(value), UNKNOWN)


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """Model features of many raw (or clean) records; equal to ``engineer_record`` row by row."""
    out = pd.DataFrame(index=frame.index)
    out["age_years"] = _map_values(frame["age"], age_years).astype(float)
    for name in _COUNTS:
        out[name] = pd.to_numeric(frame[name]).astype(float)
    out["prior_visits"] = out["number_outpatient"] + out["number_emergency"] + out["number_inpatient"]
    meds = frame[list(schema.MEDICATIONS)]
    in_use = meds.notna() & (meds != "No")
    out["drugs_in_use"] = in_use.sum(axis=1).astype(float)
    out["drugs_increased"] = (meds == "Up").sum(axis=1).astype(float)
    out["drugs_decreased"] = (meds == "Down").sum(axis=1).astype(float)
    glucose = _map_values(frame["max_glu_serum"], _mapper(GLUCOSE_SERUM_ORDINAL, 0)).astype(float)
    a1c = _map_values(frame["A1Cresult"], _mapper(A1C_ORDINAL, 0)).astype(float)
    out["glucose_level"] = glucose
    out["glucose_measured"] = (glucose > 0).astype(float)
    out["a1c_level"] = a1c
    out["a1c_measured"] = (a1c > 0).astype(float)
    diag_groups = {i: _map_values(frame[f"diag_{i}"], lambda v: icd9_group(_text(v))) for i in (1, 2, 3)}
    out["diabetes_primary"] = (diag_groups[1] == "Diabetes").astype(float)
    out["diabetes_med"] = (frame["diabetesMed"] == "Yes").astype(float).to_numpy()
    out["medication_changed"] = (frame["change"] == "Ch").astype(float).to_numpy()
    out["race"] = _map_values(frame["race"], lambda v: _text(v) or UNKNOWN)
    out["gender"] = _map_values(frame["gender"], _normal_gender)
    for column, group, code in ID_FEATURES:
        out[group] = _map_values(frame[column], _code_mapper(CODE_GROUPS[column]))
        out[code] = _map_values(frame[column], lambda v: str(_int(v)))
    out["medical_specialty"] = _map_values(frame["medical_specialty"], lambda v: _text(v) or UNKNOWN)
    for i in (1, 2, 3):
        out[f"diag_{i}_group"] = diag_groups[i]
    out["insulin"] = _map_values(frame["insulin"], lambda v: _text(v) or "No")
    out["metformin"] = _map_values(frame["metformin"], lambda v: _text(v) or "No")
    for i in (1, 2, 3):
        out[f"diag_{i}_code"] = _map_values(frame[f"diag_{i}"], lambda v: _text(v) or MISSING_DIAGNOSIS)
    return out[list(FEATURE_COLUMNS)]


class RawRecordFeatures(TransformerMixin, BaseEstimator):
    """Stateless first step of every model: raw records in, ``FEATURE_COLUMNS`` out."""

    def fit(self, X: pd.DataFrame, y: object = None) -> RawRecordFeatures:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(X, columns=list(schema.INPUT_COLUMNS))
        return engineer(X)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(FEATURE_COLUMNS, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True


# --------------------------------------------------------------------------- cleaning

CLEAN_COLUMNS: tuple[str, ...] = (*schema.INPUT_COLUMNS, schema.TARGET_COLUMN, "label")


@dataclass(frozen=True)
class CleanResult:
    frame: pd.DataFrame
    excluded: int
    """Encounters ending in death or hospice, which cannot be readmitted."""


TARGETS: tuple[schema.Target, ...] = ("any", "within_30_days")
"""Both outcomes are trained, registered and served on every run."""
OUTCOME_DEFINITIONS: dict[str, str] = {
    "any": "readmitted at any time after discharge (within 30 days or later: <30 or >30)",
    "within_30_days": "readmitted within 30 days of discharge (<30; later or no readmission is negative)",
}


def label(readmitted: pd.Series, target: schema.Target) -> pd.Series:
    """1 when the encounter counts as a readmission for ``target``."""
    positive = ("<30", ">30") if target == "any" else ("<30",)
    return readmitted.isin(positive).astype(int)


def clean(raw: pd.DataFrame, target: schema.Target = "any") -> CleanResult:
    """``diabetes_clean`` rows from validated raw rows (the 50 UCI columns)."""
    discharge = pd.to_numeric(raw["discharge_disposition_id"])
    keep = ~discharge.isin(sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))
    frame = raw.loc[keep, [*schema.INPUT_COLUMNS, schema.TARGET_COLUMN]].copy()
    for column, level in NORMALISED_MISSING.items():
        frame[column] = frame[column].astype(object).where(frame[column].notna(), level)
    frame["gender"] = _map_values(frame["gender"], _normal_gender)
    for column in ("diag_1", "diag_2", "diag_3"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["label"] = label(frame[schema.TARGET_COLUMN], target)
    return CleanResult(frame.reset_index(drop=True), int((~keep).sum()))


# --------------------------------------------------------------------------- the feature-code version


def code_version(*paths: Path) -> str:
    """A hash of the code in ``paths``: the syntax tree without docstrings, so comments, docstrings
    and formatting do not change it, and any change to what the code computes does."""
    digest = hashlib.sha256()
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list):
                node.body = [  # type: ignore[attr-defined]
                    child
                    for child in body
                    if not (isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant))
                ] or [ast.Pass()]
        digest.update(path.name.encode())
        digest.update(ast.dump(tree, annotate_fields=False).encode())
    return digest.hexdigest()[:16]


FEATURE_VERSION = code_version(Path(codes.__file__), Path(__file__))
"""The version of the feature code (this module and :mod:`readmission.codes`) a model was trained with."""
