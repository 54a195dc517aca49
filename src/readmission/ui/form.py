"""The patient form, derived from ``schema.COLUMNS``: sections, widgets, defaults, ranges.

Pure data and functions (no Streamlit): the pages render :data:`SECTIONS` and turn
the widget values back into the raw record the API expects with :func:`to_record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from readmission import schema, validation
from readmission.codes import icd9_group

SECTION_ORDER: tuple[str, ...] = ("patient", "stay", "diagnoses", "treatment", "admission")
"""Sections in the order a clinician reads a chart (keys of ``schema.Column.group``)."""

NOT_RECORDED = ""
"""The option of a nullable field meaning "not recorded" (sent to the API as null)."""

MAIN_DRUGS: tuple[str, ...] = ("insulin", "metformin")
"""Medications shown up front; the other 21 go into a collapsed panel."""

COMMON_SPECIALTIES: tuple[str, ...] = (
    "InternalMedicine", "Emergency/Trauma", "Family/GeneralPractice", "Cardiology", "Surgery-General",
    "Nephrology", "Orthopedics", "Orthopedics-Reconstructive", "Radiologist", "Pulmonology",
    "Psychiatry", "Urology", "ObstetricsandGynecology", "Surgery-Cardiovascular/Thoracic",
)  # fmt: skip
"""The most frequent admitting specialties in the data; others can be typed."""

DEFAULTS: dict[str, object] = {
    "race": "Caucasian",
    "gender": "Female",
    "age": "[70-80)",
    "weight": None,
    "admission_type_id": 1,
    "discharge_disposition_id": 1,
    "admission_source_id": 7,
    "time_in_hospital": 4,
    "payer_code": None,
    "medical_specialty": None,
    "num_lab_procedures": 44,
    "num_procedures": 1,
    "num_medications": 15,
    "number_outpatient": 0,
    "number_emergency": 0,
    "number_inpatient": 0,
    "diag_1": "428",
    "diag_2": "250.02",
    "diag_3": "401",
    "number_diagnoses": 8,
    "max_glu_serum": "None",
    "A1Cresult": "None",
    "insulin": "Steady",
    "change": "No",
    "diabetesMed": "Yes",
}
"""A typical encounter (medians and modes of the UCI data): heart failure, diabetes, hypertension."""


class Widget(StrEnum):
    SELECT = "select"  # closed set of options
    NUMBER = "number"  # integer in [minimum, maximum]
    ICD9 = "icd9"  # free text checked against the ICD-9 pattern, group shown
    SPECIALTY = "specialty"  # common options, any other name accepted


@dataclass(frozen=True)
class Field:
    name: str
    section: str
    widget: Widget
    default: object
    options: tuple[object, ...] = ()
    """For SELECT / SPECIALTY: allowed values (``NOT_RECORDED`` first when nullable)."""
    minimum: int | None = None
    maximum: int | None = None
    advanced: bool = False
    """Shown in a collapsed panel (the less common medications)."""

    @property
    def key(self) -> str:
        """The Streamlit widget key."""
        return f"field_{self.name}"


def _field(column: schema.Column) -> Field:
    default = DEFAULTS.get(column.name)
    if column.kind is schema.Kind.ICD9:
        return Field(column.name, column.group, Widget.ICD9, default or "")
    if column.kind is schema.Kind.COUNT:
        return Field(column.name, column.group, Widget.NUMBER, default, minimum=column.minimum, maximum=column.maximum)
    if column.kind is schema.Kind.TEXT:
        return Field(
            column.name,
            column.group,
            Widget.SPECIALTY,
            default or NOT_RECORDED,
            options=(NOT_RECORDED, *COMMON_SPECIALTIES),
        )
    codes = tuple(sorted(schema.allowed_codes(column.name))) if column.kind is schema.Kind.CODE else ()
    options: tuple[object, ...] = codes or column.levels
    if column.nullable:
        options = (NOT_RECORDED, *options)
    if column.name in schema.MEDICATIONS and default is None:
        default = "No"
    if default is None:
        default = NOT_RECORDED if column.nullable else options[0]
    advanced = column.name in schema.MEDICATIONS and column.name not in MAIN_DRUGS
    return Field(column.name, column.group, Widget.SELECT, default, options=options, advanced=advanced)


FIELDS: tuple[Field, ...] = tuple(
    _field(c) for c in schema.COLUMNS if c.kind not in (schema.Kind.IDENTIFIER, schema.Kind.TARGET)
)
SECTIONS: dict[str, tuple[Field, ...]] = {
    section: tuple(f for f in FIELDS if f.section == section) for section in SECTION_ORDER
}


def normalise_icd9(text: str | None) -> str | None:
    """A typed code as the data writes it (trimmed, upper-case ``V``/``E``); None when empty."""
    if text is None:
        return None
    code = text.strip().upper()
    return code or None


def icd9_problem(text: str | None) -> str | None:
    """Why a typed ICD-9 code is not valid, or None (empty is valid: no diagnosis)."""
    code = normalise_icd9(text)
    if code is None or validation.ICD9_PATTERN.fullmatch(code):
        return None
    return f"{code!r}"


def diagnosis_group(text: str | None) -> str:
    """The ICD-9 group of a typed code (``Missing`` when empty, ``Other`` when unreadable)."""
    return icd9_group(normalise_icd9(text))


def to_record(values: Mapping[str, object]) -> dict[str, object]:
    """The raw record (``schema.INPUT_COLUMNS`` minus the ids) from widget values by column name."""
    record: dict[str, object] = {}
    for field in FIELDS:
        value = values.get(field.name, field.default)
        if field.widget is Widget.ICD9:
            value = normalise_icd9(value if isinstance(value, str) else None)
        elif field.widget is Widget.NUMBER and value is not None:
            value = int(value)  # type: ignore[call-overload]
        elif isinstance(value, str) and field.widget in (Widget.SELECT, Widget.SPECIALTY):
            value = value.strip() or None  # NOT_RECORDED
        record[field.name] = value
    return record


def problems(record: Mapping[str, object]) -> list[str]:
    """Schema problems of a form record (ids are not part of the form), and a death or hospice discharge."""
    found = [
        problem
        for column in schema.COLUMNS
        if column.kind not in (schema.Kind.IDENTIFIER, schema.Kind.TARGET)
        and (problem := validation.check_value(column, record.get(column.name)))
    ]
    not_covered = schema.not_covered_reason(record.get("discharge_disposition_id"))
    return [*found, not_covered] if not_covered else found
