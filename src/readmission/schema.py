"""The one definition of the 50 raw UCI columns.

Every other component (ingest validation, cleaning, the API request model, the
Streamlit form, Locust payloads, the model signature) derives from ``COLUMNS``.
Values are described as the data API serves them: integers for ids, codes and
counts, strings for categories, ``None`` where the CSV has ``?``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

MISSING_MARKER = "?"
"""How the CSV writes a missing value."""

UNKNOWN_GENDER = "Unknown/Invalid"
"""The gender value the data uses for 'not recorded'."""

Target = Literal["any", "within_30_days"]
"""What ``label`` = 1 means: readmitted at all (``<30`` or ``>30``), or within 30 days (``<30``)."""


class Kind(StrEnum):
    IDENTIFIER = "identifier"  # integer id; never a model feature
    CODE = "code"  # integer code described in IDS_mapping.csv
    COUNT = "count"  # integer in [minimum, maximum]
    CATEGORY = "category"  # one of a closed set of strings
    TEXT = "text"  # free text from an open set (e.g. medical specialty)
    ICD9 = "icd9"  # an ICD-9-CM diagnosis code
    TARGET = "target"  # the label


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    description: str
    nullable: bool = False
    levels: tuple[str, ...] = ()
    """Allowed values of a CATEGORY or TARGET column, in their natural order."""
    minimum: int | None = None
    maximum: int | None = None
    group: str = "patient"
    """Where a clinician expects the field: patient, stay, diagnoses, treatment, admission."""

    @property
    def is_integer(self) -> bool:
        return self.kind in (Kind.IDENTIFIER, Kind.CODE, Kind.COUNT)


AGE_BANDS: tuple[str, ...] = tuple(f"[{lo}-{lo + 10})" for lo in range(0, 100, 10))
WEIGHT_BANDS: tuple[str, ...] = (
    *(f"[{lo}-{lo + 25})" for lo in range(0, 200, 25)),
    ">200",
)
RACES = ("Caucasian", "AfricanAmerican", "Hispanic", "Asian", "Other")
GENDERS = ("Female", "Male", UNKNOWN_GENDER)
PAYER_CODES = (
    "MC", "MD", "HM", "UN", "BC", "SP", "CP", "SI", "DM",
    "CM", "CH", "PO", "WC", "OT", "OG", "MP", "FR",
)  # fmt: skip
GLUCOSE_SERUM_LEVELS = ("None", "Norm", ">200", ">300")
"""``None`` is a real level: the test was not done."""
A1C_LEVELS = ("None", "Norm", ">7", ">8")
MEDICATION_LEVELS = ("No", "Down", "Steady", "Up")
READMITTED_LEVELS = ("NO", ">30", "<30")

MEDICATIONS: tuple[str, ...] = (
    "metformin", "repaglinide", "nateglinide", "chlorpropamide", "glimepiride",
    "acetohexamide", "glipizide", "glyburide", "tolbutamide", "pioglitazone",
    "rosiglitazone", "acarbose", "miglitol", "troglitazone", "tolazamide",
    "examide", "citoglipton", "insulin", "glyburide-metformin", "glipizide-metformin",
    "glimepiride-pioglitazone", "metformin-rosiglitazone", "metformin-pioglitazone",
)  # fmt: skip


MAX_ID = 2**63 - 1
"""The largest identifier: the raw table's ``BIGINT`` (a larger one would crash the batch's int64 columns)."""


def _count(name: str, description: str, minimum: int, maximum: int, group: str) -> Column:
    return Column(name, Kind.COUNT, description, minimum=minimum, maximum=maximum, group=group)


def _diagnosis(name: str, which: str) -> Column:
    return Column(name, Kind.ICD9, f"{which} diagnosis (ICD-9-CM code)", nullable=True, group="diagnoses")


COLUMNS: tuple[Column, ...] = (
    Column("encounter_id", Kind.IDENTIFIER, "Unique id of the hospital encounter", minimum=1, maximum=MAX_ID),
    Column("patient_nbr", Kind.IDENTIFIER, "Unique id of the patient", minimum=1, maximum=MAX_ID),
    Column("race", Kind.CATEGORY, "Race", nullable=True, levels=RACES),
    Column("gender", Kind.CATEGORY, "Gender", levels=GENDERS),
    Column("age", Kind.CATEGORY, "Age band in years", levels=AGE_BANDS),
    Column("weight", Kind.CATEGORY, "Weight band in pounds", nullable=True, levels=WEIGHT_BANDS),
    Column("admission_type_id", Kind.CODE, "Admission type", group="admission"),
    Column("discharge_disposition_id", Kind.CODE, "Discharge disposition", group="admission"),
    Column("admission_source_id", Kind.CODE, "Admission source", group="admission"),
    _count("time_in_hospital", "Days between admission and discharge", 1, 14, "stay"),
    Column("payer_code", Kind.CATEGORY, "Payer", nullable=True, levels=PAYER_CODES, group="stay"),
    Column("medical_specialty", Kind.TEXT, "Specialty of the admitting physician", nullable=True, group="stay"),
    _count("num_lab_procedures", "Lab tests performed during the encounter", 0, 200, "stay"),
    _count("num_procedures", "Procedures (other than lab tests) performed", 0, 20, "stay"),
    _count("num_medications", "Distinct generic medications administered", 0, 200, "treatment"),
    _count("number_outpatient", "Outpatient visits in the year before", 0, 100, "patient"),
    _count("number_emergency", "Emergency visits in the year before", 0, 100, "patient"),
    _count("number_inpatient", "Inpatient visits in the year before", 0, 100, "patient"),
    _diagnosis("diag_1", "Primary"),
    _diagnosis("diag_2", "Secondary"),
    _diagnosis("diag_3", "Additional secondary"),
    _count("number_diagnoses", "Diagnoses entered into the system", 0, 30, "diagnoses"),
    Column("max_glu_serum", Kind.CATEGORY, "Glucose serum test result", levels=GLUCOSE_SERUM_LEVELS, group="treatment"),
    Column("A1Cresult", Kind.CATEGORY, "HbA1c test result", levels=A1C_LEVELS, group="treatment"),
    *(
        Column(drug, Kind.CATEGORY, f"{drug}: prescribed and dose change", levels=MEDICATION_LEVELS, group="treatment")
        for drug in MEDICATIONS
    ),
    Column("change", Kind.CATEGORY, "Change in diabetic medications", levels=("No", "Ch"), group="treatment"),
    Column("diabetesMed", Kind.CATEGORY, "Any diabetic medication prescribed", levels=("No", "Yes"), group="treatment"),
    Column("readmitted", Kind.TARGET, "Readmitted: <30 days, >30 days, or no record", levels=READMITTED_LEVELS),
)  # fmt: skip

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
TARGET_COLUMN = "readmitted"
IDENTIFIER_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind is Kind.IDENTIFIER)
INPUT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind is not Kind.TARGET)
"""The raw record a client sends for scoring: every column but the target."""

DEATH_DISCHARGE_IDS: frozenset[int] = frozenset({11, 19, 20, 21})
HOSPICE_DISCHARGE_IDS: frozenset[int] = frozenset({13, 14})
NOT_READMITTABLE_DISCHARGE_IDS = DEATH_DISCHARGE_IDS | HOSPICE_DISCHARGE_IDS
"""Encounters ending in death or hospice: they cannot be readmitted."""


def not_covered_reason(discharge_disposition_id: object) -> str | None:
    """Why the models do not score this encounter (death or hospice discharge), or None when they do."""
    if not isinstance(discharge_disposition_id, int) or discharge_disposition_id not in NOT_READMITTABLE_DISCHARGE_IDS:
        return None
    kind = "death" if discharge_disposition_id in DEATH_DISCHARGE_IDS else "hospice"
    described = code_descriptions()["discharge_disposition_id"].get(discharge_disposition_id, kind)
    return (
        f"discharge_disposition_id {discharge_disposition_id} ({described}) is a {kind} discharge: such encounters "
        "cannot be readmitted, so the models (trained without them) give no readmission risk"
    )


@cache
def code_descriptions() -> dict[str, dict[int, str]]:
    """``IDS_mapping.csv`` as ``{code column: {id: description}}``."""
    text = resources.files("readmission.resources").joinpath("IDS_mapping.csv").read_text()
    mapping: dict[str, dict[int, str]] = {}
    current: dict[int, str] | None = None
    for row in csv.reader(io.StringIO(text)):
        if not row or not any(cell.strip() for cell in row):
            current = None
        elif current is None:
            current = mapping.setdefault(row[0].strip(), {})
        else:
            current[int(row[0])] = row[1].strip()
    return mapping


def allowed_codes(column: str) -> frozenset[int]:
    return frozenset(code_descriptions()[column])
