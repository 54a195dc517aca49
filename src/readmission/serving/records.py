"""Request and response models derived from ``schema.COLUMNS`` (never written by hand).

Categories become ``Literal`` types, code ids are restricted to the codes of
``IDS_mapping.csv``, counts get their ranges, diagnoses the ICD-9 pattern and
free text the text pattern; nullable columns accept ``null`` (and may be left
out); identifiers are optional; unknown keys (``readmitted``...) are ignored.
Validation is strict: ``"5"`` is not a count, and a code is exactly an integer (``true``
and ``1.0`` are refused, as ingest refuses them); for counts an integral float (``2.0``,
what pandas writes for an integer column with missing values) is the integer, ``2.5`` is
refused.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Annotated, Any, Literal

import numpy as np
import orjson
import pandas as pd
from pandas.api.types import infer_dtype
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from readmission import schema
from readmission.schema import Column, Kind
from readmission.validation import (
    ICD9_PATTERN,
    MAX_LENGTHS,
    TEXT_PATTERN,
    check_value,
    integer_ok,
    integers_breaking_rules,
    shown,
    string_ok,
)

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


def whole_number(value: Any) -> Any:
    """``2.0`` -> ``2``; anything else unchanged (``2.5``, ``1e300``, ``"2"``, ``True`` are then refused)."""
    return int(value) if type(value) is float and value.is_integer() and abs(value) < 2**53 else value


def exact_integer(value: Any) -> Any:
    """A code is an integer as it is: ``true`` (equal to 1 for ``Literal``) and ``1.0`` are refused."""
    if value is not None and type(value) is not int:
        raise ValueError("not an integer")  # the message is validation.check_value's (format_error)
    return value


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
        field = Field(pattern=ICD9_PATTERN.pattern, max_length=MAX_LENGTHS[Kind.ICD9], description=description)
    elif column.kind is Kind.TEXT:
        base = str
        field = Field(pattern=TEXT_PATTERN.pattern, max_length=MAX_LENGTHS[Kind.TEXT], description=description)
    else:  # pragma: no cover - the target is never an input
        raise ValueError(f"{column.name} is not an input column")
    annotated: Any
    if column.kind is Kind.CODE:
        annotated = Annotated[base, field, BeforeValidator(exact_integer)]
    elif column.is_integer:
        annotated = Annotated[base, field, BeforeValidator(whole_number)]
    else:
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


class Factor(BaseModel):
    """One raw field's signed contribution to the model's log-odds (exact tree SHAP values)."""

    field: str
    description: str
    value: Any
    contribution: float


class OutcomeRisk(BaseModel):
    """The calibrated risk of one outcome, its band and the population's base rate."""

    outcome: str = Field(description="The outcome in words")
    risk: float = Field(ge=0, le=1, description="Calibrated probability of this outcome")
    prediction: Literal[0, 1] = Field(description="1 when the risk reaches the model's decision threshold (max F1)")
    risk_band: RiskBand
    base_rate: float | None = Field(description="The outcome's rate among all (training) patients")
    relative_risk: float | None = Field(description="risk / base_rate: 2.0 is twice the average patient")
    threshold: float
    model_name: str
    model_version: str
    factors: list[Factor] | None = Field(default=None, description="With ?explain=true: the top 5 factors")


class Prediction(BaseModel):
    """The risks of one encounter (the `any` outcome also at the top level) and the models that scored it."""

    readmission_risk: float = Field(ge=0, le=1, description="Calibrated probability of readmission at any time")
    prediction: Literal[0, 1] = Field(description="1 when the risk reaches the model's decision threshold")
    risk_band: RiskBand
    base_rate: float | None = Field(description="Readmission rate of the average patient (any time)")
    outcomes: dict[str, OutcomeRisk] = Field(description="Every served outcome: `any` and `within_30_days`")
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
        description="In request order: {readmission_risk, prediction, risk_band, outcomes}, or null if refused"
    )
    errors: list[RecordError]


def batch_request_schema(max_records: int) -> dict[str, Any]:
    """OpenAPI body of ``/predict/batch``: records are validated one by one, so any item is accepted
    (an item that is not a valid ``PatientRecord`` is reported in ``errors`` by its index)."""
    return {
        "type": "object",
        "required": ["records"],
        "properties": {
            "records": {
                "type": "array",
                "maxItems": max_records,
                "items": {
                    "anyOf": [{"$ref": "#/components/schemas/PatientRecord"}, {}],
                    "description": "A PatientRecord; anything else is reported in `errors` by its index",
                },
            }
        },
        "examples": [{"records": [EXAMPLE_RECORD]}],
    }


def format_error(error: Any, *, skip: int = 0) -> str:
    """One pydantic error as a sentence that names the field: ``validation.check_value``'s for a column's value
    (the very reason ingest quarantines that value with), pydantic's otherwise."""
    loc = [str(part) for part in error.get("loc", ())[skip:]]
    where = ".".join(loc) or "body"
    kind = error.get("type", "")
    if kind == "missing":
        return f"{where} is missing"
    value = error.get("input")
    column = schema.BY_NAME.get(where)
    reason = check_value(column, value) if column is not None else None
    if reason:
        return reason
    return f"{where}: {error.get('msg', 'invalid')} (got {shown(value)})"


# --------------------------------------------------------------------------- batch validation, by column

_dicts_to_array = getattr(importlib.import_module("pandas._libs.lib"), "dicts_to_array", None)
_StringHashTable = getattr(importlib.import_module("pandas._libs.hashtable"), "StringHashTable", None)
"""pandas' Cython loops (used by ``DataFrame.from_records`` and ``factorize``); public fallbacks otherwise."""


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch after validation: the valid records as one frame, the others' errors by index."""

    count: int
    frame: pd.DataFrame
    """``schema.INPUT_COLUMNS`` of the valid records, in request order (category columns are Categorical)."""
    valid: np.ndarray
    """Request index of each row of ``frame``."""
    errors: dict[int, list[str]]
    """Request index -> the request model's messages (exactly what ``/predict`` answers for that record)."""


class BatchValidator:
    """Validates many records at once, column by column, against ``schema.COLUMNS``.

    Whole columns are checked with numpy/pandas (types, levels, allowed codes,
    ranges, ICD-9/text patterns, nullability). The checks are never looser than
    the request model; a record any of them flags goes through the request model
    itself (``model_validate_json``, as ``/predict`` does), so its messages are the
    single-record ones, and a record the fast checks flagged too eagerly is still
    scored.
    """

    def __init__(self, model: type[BaseModel] | None = None) -> None:
        self.model = model or patient_record_model()
        self.columns = [schema.BY_NAME[name] for name in schema.INPUT_COLUMNS]
        self.names = [column.name for column in self.columns]
        self._getter = itemgetter(*self.names)
        self._codes = {
            c.name: np.array(sorted(schema.allowed_codes(c.name))) for c in self.columns if c.kind is Kind.CODE
        }
        self._integer_indices = [i for i, c in enumerate(self.columns) if c.is_integer]
        self._string_indices = [i for i, c in enumerate(self.columns) if not c.is_integer]
        integers = [self.columns[i] for i in self._integer_indices]
        self._minimum = np.array([c.minimum if c.minimum is not None else np.iinfo(np.int64).min for c in integers])
        self._maximum = np.array([c.maximum if c.maximum is not None else np.iinfo(np.int64).max for c in integers])

    # ----------------------------------------------------------------- public

    def validate(self, raw: Sequence[Any]) -> ValidatedBatch:
        count = len(raw)
        if set(map(type, raw)) <= {dict}:
            not_dict, records = np.zeros(count, dtype=bool), raw
        else:
            not_dict = np.fromiter((type(r) is not dict for r in raw), dtype=bool, count=count)
            records = [r if type(r) is dict else {} for r in raw]
        table = self._table(records)
        bad = not_dict.copy()
        converted: dict[str, Any] = {}
        columns = table.T  # one (strided) object array per column: no copy
        integers = self._check_integer_block(table[:, self._integer_indices]) if count else None
        for index, column in enumerate(self.columns):
            if column.is_integer and integers is not None:
                column_bad, converted[column.name] = integers[self._integer_indices.index(index)]
            elif column.is_integer:
                column_bad, converted[column.name] = self._check_integers(column, columns[index])
            else:
                column_bad, converted[column.name] = self._check_strings(column, columns[index])
            bad |= column_bad
        errors: dict[int, list[str]] = {}
        rescued: list[int] = []
        for index in np.flatnonzero(bad).tolist():
            problems = self.precise_errors(raw[index])
            if problems:
                errors[index] = problems
            else:  # flagged by a conservative column check, valid for the request model
                rescued.append(index)
        keep = ~bad
        valid = np.flatnonzero(keep)
        frame = self._frame({name: converted[name][keep] for name in self.names}, len(valid))
        if rescued:
            extra = pd.DataFrame([{n: raw[i].get(n) for n in self.names} for i in rescued], columns=self.names)
            frame = pd.concat([frame.astype(object), extra], ignore_index=True)
            valid = np.concatenate([valid, np.asarray(rescued, dtype=valid.dtype)])
            order = np.argsort(valid, kind="stable")
            frame, valid = frame.iloc[order].reset_index(drop=True), valid[order]
        return ValidatedBatch(count, frame, valid, errors)

    def precise_errors(self, record: Any) -> list[str]:
        """The request model's messages for one record (empty when it is valid)."""
        try:
            body = orjson.dumps(record)
        except TypeError:  # an integer beyond 64 bits, from Python (orjson reads such a JSON number as a float)
            body = None
        try:
            if body is None:
                self.model.model_validate(record)
            else:
                self.model.model_validate_json(body)
        except ValidationError as error:
            return [format_error(item) for item in error.errors()]
        return []

    # ----------------------------------------------------------------- columns

    def _table(self, records: Sequence[dict[str, Any]]) -> np.ndarray:
        """The records as one object array (records x input columns; a missing key reads as None)."""
        count, width = len(records), len(self.names)
        if count and _dicts_to_array is not None and isinstance(records, list):
            try:  # pandas' own loop (from_records): one pass, a missing key reads as NaN
                table = _dicts_to_array(records, self.names)
                if table.shape == (count, width) and table.dtype == object:
                    return table
            except Exception:  # noqa: S110 - private pandas API changed: the public route below
                pass
        if count:
            try:
                table = np.array(list(map(self._getter, records)), dtype=object)
                if table.shape == (count, width):
                    return table
            except (KeyError, ValueError):  # a key left out, or values numpy reads as nested arrays
                pass
        table = np.empty((count, width), dtype=object)
        for index, name in enumerate(self.names):
            table[:, index] = np.fromiter((r.get(name) for r in records), dtype=object, count=count)
        return table

    def _check_integer_block(self, block: np.ndarray) -> list[tuple[np.ndarray, Any]] | None:
        """Every integer column at once when all of them hold plain int64 integers (else None)."""
        if infer_dtype(block.ravel(), skipna=False) != "integer":
            return None
        try:
            ints = block.astype(np.int64)
        except OverflowError:
            return None
        bad = (ints < self._minimum) | (ints > self._maximum)
        out = []
        for position, index in enumerate(self._integer_indices):
            name = self.names[index]
            column_bad = bad[:, position]
            if name in self._codes:
                column_bad = column_bad | ~np.isin(ints[:, position], self._codes[name])
            out.append((column_bad, np.ascontiguousarray(ints[:, position])))
        return out

    def _check_integers(self, column: Column, values: np.ndarray) -> tuple[np.ndarray, Any]:
        if infer_dtype(values, skipna=False) == "integer":
            try:
                ints = values.astype(np.int64)
            except OverflowError:
                ints = None
            if ints is not None:
                return integers_breaking_rules(column, ints), ints
        allowed = schema.allowed_codes(column.name) if column.kind is Kind.CODE else None
        ok = np.fromiter((_integer_ok(column, v, allowed) for v in values), dtype=bool, count=len(values))
        if column.kind is Kind.IDENTIFIER:  # not a feature: keep the values as they are
            return ~ok, values
        return ~ok, np.where(ok, values, 0).astype(np.int64)

    def _check_strings(self, column: Column, values: np.ndarray) -> tuple[np.ndarray, Any]:
        try:
            codes, uniques = _factorize_strings(values)
        except Exception:  # e.g. an unhashable value (list, object): check value by value
            ok = np.fromiter((string_ok(column, v) for v in values), dtype=bool, count=len(values))
            cleaned = values.copy()
            cleaned[~ok] = None
            return ~ok, cleaned
        unique_ok = np.fromiter((string_ok(column, u) for u in uniques), dtype=bool, count=len(uniques))
        missing = codes < 0  # None, a key left out (NaN), or a value that is not a string
        bad = np.zeros(len(codes), dtype=bool)
        if missing.any():
            where = np.flatnonzero(missing)
            bad[where] = ~pd.isna(values[where]) if column.nullable else True
        if len(uniques):
            bad |= ~missing & ~unique_ok[np.where(missing, 0, codes)]
        # valid uniques become the categories; everything else (invalid, None) the missing code
        remap = np.full(len(uniques) + 1, -1, dtype=np.int64)
        remap[:-1][unique_ok] = np.arange(int(unique_ok.sum()))
        categories = pd.Index(np.asarray(uniques, dtype=object)[unique_ok], dtype=object)
        return bad, pd.Categorical.from_codes(remap[codes], categories=categories)

    def _frame(self, columns: dict[str, Any], length: int) -> pd.DataFrame:
        return pd.DataFrame(columns, index=pd.RangeIndex(length), columns=self.names, copy=False)


def _factorize_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct strings) of an object array; every value that is not a ``str`` gets code -1."""
    if _StringHashTable is not None:
        uniques, codes = _StringHashTable(len(values)).factorize(values, na_sentinel=-1)
        return np.asarray(codes), np.asarray(uniques, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # pragma: no cover - older/newer pandas
    is_string = np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques))
    remap = np.append(np.where(is_string, np.cumsum(is_string) - 1, -1), -1)
    return remap[codes], np.asarray(uniques, dtype=object)[is_string]


def _integer_ok(column: Column, value: Any, allowed: frozenset[int] | None) -> bool:
    if value is None or (type(value) is float and value != value):  # None, or a key left out (NaN)
        return column.kind is Kind.IDENTIFIER  # identifiers are optional in a request
    return integer_ok(column, value if column.kind is Kind.CODE else whole_number(value), allowed)
