"""Cleaning and feature engineering: the same code for a table and for one record.

``clean`` turns validated raw rows into ``diabetes_clean`` rows (missing markers
made explicit, death/hospice encounters excluded, the label added).
``engineer`` / ``engineer_record`` turn raw (or clean) records into model
features; ``RawRecordFeatures`` wraps ``engineer`` as the first, stateless step
of every logged model, so the API receives raw fields and never re-implements
any of this. Both paths share the primitive maps below, and a test proves they
agree on the whole data set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from readmission import schema

UNKNOWN = "Unknown"
MISSING_DIAGNOSIS = "Missing"

# --------------------------------------------------------------------------- code maps

ICD9_GROUPS: tuple[str, ...] = (
    "Circulatory", "Respiratory", "Digestive", "Diabetes", "Injury",
    "Musculoskeletal", "Genitourinary", "Neoplasms", "Other", MISSING_DIAGNOSIS,
)  # fmt: skip

_ICD9_RANGES: tuple[tuple[float, float, str], ...] = (
    (390, 459.99, "Circulatory"),
    (785, 785.99, "Circulatory"),
    (460, 519.99, "Respiratory"),
    (786, 786.99, "Respiratory"),
    (520, 579.99, "Digestive"),
    (787, 787.99, "Digestive"),
    (250, 250.99, "Diabetes"),
    (800, 999.99, "Injury"),
    (710, 739.99, "Musculoskeletal"),
    (580, 629.99, "Genitourinary"),
    (788, 788.99, "Genitourinary"),
    (140, 239.99, "Neoplasms"),
)

ADMISSION_TYPE_GROUPS: dict[int, str] = {
    1: "Emergency", 2: "Urgent", 3: "Elective", 4: "Other", 7: "Other",
    5: UNKNOWN, 6: UNKNOWN, 8: UNKNOWN,
}  # fmt: skip
ADMISSION_SOURCE_GROUPS: dict[int, str] = {
    **dict.fromkeys((1, 2, 3), "Referral"),
    7: "Emergency room",
    **dict.fromkeys((4, 5, 6, 10, 18, 19, 22, 25, 26), "Transfer"),
    **dict.fromkeys((11, 12, 13, 14, 23, 24), "Birth"),
    8: "Other",
    **dict.fromkeys((9, 15, 17, 20, 21), UNKNOWN),
}
DISCHARGE_GROUPS: dict[int, str] = {
    1: "Home",
    **dict.fromkeys((6, 8), "Home with care"),
    **dict.fromkeys((2, 3, 4, 5, 10, 15, 22, 23, 24, 27, 28, 29, 30), "Transferred"),
    7: "Left against advice",
    **dict.fromkeys((9, 12, 16, 17), "Still in care"),
    **dict.fromkeys(schema.NOT_READMITTABLE_DISCHARGE_IDS, "Expired or hospice"),
    **dict.fromkeys((18, 25, 26), UNKNOWN),
}
CODE_GROUPS: dict[str, dict[int, str]] = {
    "admission_type_id": ADMISSION_TYPE_GROUPS,
    "admission_source_id": ADMISSION_SOURCE_GROUPS,
    "discharge_disposition_id": DISCHARGE_GROUPS,
}

GLUCOSE_SERUM_ORDINAL = {"None": 0, "Norm": 1, ">200": 2, ">300": 3}
A1C_ORDINAL = {"None": 0, "Norm": 1, ">7": 2, ">8": 3}
"""``None`` means "not measured": 0, with a separate ``*_measured`` flag."""


@lru_cache(maxsize=4096)
def icd9_group(code: str | None) -> str:
    """The diagnosis group of an ICD-9-CM code as the data writes it."""
    if code is None or code == "":
        return MISSING_DIAGNOSIS
    if code[0] in "VE":
        return "Other"
    try:
        value = float(code)
    except ValueError:
        return "Other"
    for low, high, group in _ICD9_RANGES:
        if low <= value <= high:
            return group
    return "Other"


@lru_cache(maxsize=64)
def age_years(band: str | None) -> float:
    """The midpoint of an age band such as ``[70-80)``; NaN when unknown."""
    if not band or not band.startswith("["):
        return math.nan
    low, high = band[1:-1].split("-")
    return (int(low) + int(high)) / 2


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
ID_FEATURES: tuple[tuple[str, str, str], ...] = tuple(
    (column, column.removesuffix("_id"), column.removesuffix("_id") + "_code") for column in CODE_GROUPS
)
"""``(IDS column, its group feature, its code feature)``, e.g. ``admission_type_id``,
``admission_type``, ``admission_type_code``."""
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
    glucose = GLUCOSE_SERUM_ORDINAL.get(record.get("max_glu_serum"), 0)  # type: ignore[arg-type]
    a1c = A1C_ORDINAL.get(record.get("A1Cresult"), 0)  # type: ignore[arg-type]
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
