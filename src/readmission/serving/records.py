"""Request and response models derived from ``schema.COLUMNS`` (never written by hand).

Categories become ``Literal`` types, code ids are restricted to the codes of
``IDS_mapping.csv``, counts get their ranges, diagnoses the ICD-9 pattern and
free text the text pattern; nullable columns accept ``null`` (and may be left
out); identifiers are optional; unknown keys (``readmitted``...) are ignored.
Validation is strict: ``"5"`` is not a count and ``true`` is not a code.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from readmission import schema
from readmission.schema import Column, Kind

RiskBand = Literal["low", "medium", "high"]

EXAMPLE_RECORD: dict[str, Any] = {
    "encounter_id": 149190,
    "patient_nbr": 55629189,
    "race": "Caucasian",
    "gender": "Female",
    "age": "[10-20)",
    "weight": None,
    "admission_type_id": 1,
    "discharge_disposition_id": 1,
    "admission_source_id": 7,
    "time_in_hospital": 3,
    "payer_code": None,
    "medical_specialty": None,
    "num_lab_procedures": 59,
    "num_procedures": 0,
    "num_medications": 18,
    "number_outpatient": 0,
    "number_emergency": 0,
    "number_inpatient": 0,
    "diag_1": "276",
    "diag_2": "250.01",
    "diag_3": "255",
    "number_diagnoses": 9,
    "max_glu_serum": "None",
    "A1Cresult": "None",
    **dict.fromkeys(schema.MEDICATIONS, "No"),
    "insulin": "Up",
    "change": "Ch",
    "diabetesMed": "Yes",
}
"""The second row of the UCI data, as the data API serves it (without ``readmitted``)."""


def _annotation(column: Column) -> Any:
    """The pydantic type of one raw column."""
    description = column.description
    base: Any
    if column.kind is Kind.CATEGORY:
        base = Literal[column.levels]
        field = Field(description=description)
    elif column.kind is Kind.CODE:
        codes = tuple(sorted(schema.allowed_codes(column.name)))
        base = Literal[codes]
        field = Field(description=f"{description} (code of IDS_mapping.csv)")
    elif column.kind in (Kind.COUNT, Kind.IDENTIFIER):
        base = int
        field = Field(ge=column.minimum, le=column.maximum, description=description)
    elif column.kind is Kind.ICD9:
        base = str
        field = Field(pattern=schema.ICD9_PATTERN.pattern, max_length=9, description=description)
    elif column.kind is Kind.TEXT:
        base = str
        field = Field(pattern=schema.TEXT_PATTERN.pattern, max_length=64, description=description)
    else:  # pragma: no cover - the target is never an input
        raise ValueError(f"{column.name} is not an input column")
    annotated = Annotated[base, field]
    if column.nullable or column.kind is Kind.IDENTIFIER:
        return (annotated | None, None)
    return (annotated, ...)


@cache
def patient_record_model() -> type[BaseModel]:
    """The request model of one encounter, one field per ``schema.INPUT_COLUMNS``."""
    fields = {name: _annotation(schema.BY_NAME[name]) for name in schema.INPUT_COLUMNS}
    return create_model(
        "PatientRecord",
        __config__=ConfigDict(
            extra="ignore",
            strict=True,
            json_schema_extra={"examples": [EXAMPLE_RECORD]},
        ),
        __doc__="One hospital encounter with the raw fields of the UCI data (as the data API serves them).",
        **fields,
    )


class Prediction(BaseModel):
    """The risk of one encounter and the model that scored it."""

    readmission_risk: float = Field(ge=0, le=1, description="Predicted probability of readmission")
    prediction: Literal[0, 1] = Field(description="1 when the risk reaches the model's decision threshold")
    risk_band: RiskBand
    model_name: str
    model_version: str
    model_alias: str
    loaded_at: str = Field(description="When this model was loaded (ISO 8601, UTC)")


class RecordError(BaseModel):
    index: int
    errors: list[str]


class BatchPrediction(BaseModel):
    model_name: str
    model_version: str
    model_alias: str
    loaded_at: str
    threshold: float
    count: int = Field(description="Records received")
    scored: int = Field(description="Records scored")
    predictions: list[dict[str, Any] | None] = Field(
        description="In request order: {readmission_risk, prediction, risk_band}, or null for an invalid record"
    )
    errors: list[RecordError]


def batch_request_schema(max_records: int) -> dict[str, Any]:
    """OpenAPI body of ``/predict/batch`` (records are validated one by one, not as a whole)."""
    return {
        "type": "object",
        "required": ["records"],
        "properties": {
            "records": {
                "type": "array",
                "maxItems": max_records,
                "items": {"$ref": "#/components/schemas/PatientRecord"},
            }
        },
        "examples": [{"records": [EXAMPLE_RECORD]}],
    }


def format_error(error: Any, *, skip: int = 0) -> str:
    """One pydantic error as a sentence that names the field."""
    loc = [str(part) for part in error.get("loc", ())[skip:]]
    where = ".".join(loc) or "body"
    kind = error.get("type", "")
    if kind == "missing":
        return f"{where} is missing"
    value = error.get("input")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"{where}: {error.get('msg', 'invalid')} (got {shown})"
