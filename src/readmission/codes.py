"""The code maps of the UCI data: ICD-9-CM diagnosis groups, the IDS id groups, lab-result levels,
age bands. Pure Python (no numpy, pandas or scikit-learn): the clinician UI uses them as they are,
and the model's feature step (:mod:`readmission.features`) builds on them.
"""

from __future__ import annotations

import math
from functools import lru_cache

from readmission import schema

UNKNOWN = "Unknown"
MISSING_DIAGNOSIS = "Missing"

ICD9_GROUPS: tuple[str, ...] = (
    "Circulatory", "Respiratory", "Digestive", "Diabetes", "Injury",
    "Musculoskeletal", "Genitourinary", "Neoplasms", "Other", MISSING_DIAGNOSIS,
)  # fmt: skip

ICD9_RANGES: tuple[tuple[float, float, str], ...] = (
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
    for low, high, group in ICD9_RANGES:
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


ID_FEATURES: tuple[tuple[str, str, str], ...] = tuple(
    (column, column.removesuffix("_id"), column.removesuffix("_id") + "_code") for column in CODE_GROUPS
)
"""``(IDS column, its group feature, its code feature)``, e.g. ``admission_type_id``,
``admission_type``, ``admission_type_code``."""
