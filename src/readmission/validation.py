"""The one validator of raw records: ingest, ``/predict`` and ``/predict/batch`` share it.

The rules (levels, codes, ranges, ICD-9 and text patterns, lengths) come from
:mod:`readmission.schema`; this module says whether a value obeys them and, when
it does not, why, in one sentence used everywhere (the ingest quarantine reason and
the API's 422 message are the same text for the same value).

Patterns are ASCII and full-match: ``"250\\n"``, ``"Cardiology\\n"`` and non-ASCII
digits (``"٢٥٠"``) are rejected by Python (``re.ASCII`` + ``fullmatch``) and by the
request model's regex engine (pydantic-core: ``[0-9]`` and ``$`` at the end of text).

:func:`validate_records` checks a whole ingest batch column by column (an int64 array
or the distinct values of a column of one type; cell by cell only when a column's types
are mixed or it holds a bad value) with exactly the semantics of :func:`check_value`.
"""

from __future__ import annotations

import math
import operator
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from readmission import schema
from readmission.schema import Column, Kind

__all__ = [
    "ICD9_PATTERN",
    "MAX_LENGTHS",
    "SHOWN_CHARACTERS",
    "TEXT_PATTERN",
    "Validation",
    "check_record",
    "check_value",
    "integer_ok",
    "integers_breaking_rules",
    "shown",
    "string_ok",
    "validate_records",
]

_DIGIT = "[0-9]"
ICD9_PATTERN = re.compile(
    rf"^(?:{_DIGIT}{{1,3}}(?:\.{_DIGIT}{{1,2}})?|V{_DIGIT}{{1,2}}(?:\.{_DIGIT}{{1,2}})?|E{_DIGIT}{{3}}(?:\.{_DIGIT}{{1,2}})?)$",
    re.ASCII,
)
"""ICD-9-CM as the data writes it: leading zeros of numeric codes are dropped ("8" is 008). Use ``fullmatch``."""

TEXT_PATTERN = re.compile(r"^[A-Za-z][A-Za-z&/\- ]{0,63}$", re.ASCII)
"""Free text (medical specialty): ASCII letters, spaces, ``&``, ``/``, ``-``. Use ``fullmatch``."""

MAX_LENGTHS: dict[Kind, int] = {Kind.ICD9: 9, Kind.TEXT: 64}
"""Longest accepted ICD-9-CM code and free-text value (never above the raw table's column width)."""

_PATTERNS: dict[Kind, tuple[re.Pattern[str], str]] = {
    Kind.ICD9: (ICD9_PATTERN, "is not an ICD-9-CM code (such as 428, 250.01, V57 or E909)"),
    Kind.TEXT: (TEXT_PATTERN, "is not a name made of letters, spaces, '&', '/' or '-' (at most 64 characters)"),
}

RAW_COLUMN_NAMES = frozenset(schema.COLUMN_NAMES)


SHOWN_CHARACTERS = 40
"""An echoed value is cut to this many characters (a hostile value may be megabytes long)."""


def shown(value: object) -> str:
    """``repr(value)``, cut to ``SHOWN_CHARACTERS`` characters and "…" (even an integer of a million digits,
    which ``repr`` refuses to write out in full)."""
    if type(value) is int and value.bit_length() > 4 * SHOWN_CHARACTERS:
        digits = int(value.bit_length() * math.log10(2))  # the digits of abs(value), or one fewer
        leading = str(abs(value) // 10 ** max(digits - SHOWN_CHARACTERS, 0))  # 40 or 41 of its 49+ digits
        return (("-" if value < 0 else "") + leading)[:SHOWN_CHARACTERS] + "…"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


@cache
def _codes_sentence(name: str) -> str:
    return ", ".join(str(code) for code in sorted(schema.allowed_codes(name)))


def string_ok(column: Column, value: object) -> bool:
    """Is ``value`` valid for the string column ``column``? (The fast form of :func:`check_value`.)"""
    if value is None:
        return column.nullable
    if type(value) is not str:
        return False
    if column.levels:
        return value in column.levels
    pattern, _ = _PATTERNS[column.kind]
    return len(value) <= MAX_LENGTHS[column.kind] and pattern.fullmatch(value) is not None


def integer_ok(column: Column, value: object, allowed: frozenset[int] | None = None) -> bool:
    """Is ``value`` valid for the integer column ``column``? ``allowed``: its codes (CODE columns)."""
    if value is None:
        return column.nullable
    if type(value) is not int:
        return False
    if (column.minimum is not None and value < column.minimum) or (
        column.maximum is not None and value > column.maximum
    ):
        return False
    if column.kind is Kind.CODE:
        return value in (allowed if allowed is not None else schema.allowed_codes(column.name))
    return True


def integers_breaking_rules(column: Column, numbers: np.ndarray) -> np.ndarray:
    """True where an int64 value is out of the column's range or not one of its codes (vectorised)."""
    bad = np.zeros(len(numbers), dtype=bool)
    if column.minimum is not None:
        bad |= numbers < column.minimum
    if column.maximum is not None:
        bad |= numbers > column.maximum
    if column.kind is Kind.CODE:
        bad |= ~np.isin(numbers, _code_array(column.name))
    return bad


@cache
def _code_array(name: str) -> np.ndarray:
    return np.array(sorted(schema.allowed_codes(name)), dtype=np.int64)


def check_value(column: Column, value: object) -> str | None:
    """Why ``value`` is not valid for ``column`` (one sentence naming the column), or None if it is."""
    if value is None:
        return None if column.nullable else f"{column.name} is required"
    if column.kind is Kind.CODE:  # exactly an integer: not true (== 1), not 1.0
        if type(value) is not int:
            return f"{column.name} must be one of the codes {_codes_sentence(column.name)}, got {shown(value)}"
        if value not in schema.allowed_codes(column.name):
            return f"{column.name} {shown(value)} is not a known code (one of {_codes_sentence(column.name)})"
        return None
    if column.is_integer:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{column.name} must be an integer, got {shown(value)}"
        if column.minimum is not None and value < column.minimum:
            return f"{column.name} must be >= {column.minimum}, got {shown(value)}"
        if column.maximum is not None and value > column.maximum:
            return f"{column.name} must be <= {column.maximum}, got {shown(value)}"
        return None
    if not isinstance(value, str):
        return f"{column.name} must be a string, got {shown(value)}"
    if column.levels:
        return (
            None if value in column.levels else f"{column.name} {shown(value)} is not one of {', '.join(column.levels)}"
        )
    pattern, sentence = _PATTERNS[column.kind]
    if len(value) > MAX_LENGTHS[column.kind] or pattern.fullmatch(value) is None:
        return f"{column.name} {shown(value)} {sentence}"
    return None


def check_record(record: Mapping[str, object], *, require_target: bool = False) -> list[str]:
    """Every problem with one raw record (empty when valid). Unknown keys are ignored."""
    problems = []
    for column in schema.COLUMNS:
        if column.kind is Kind.TARGET and not require_target:
            continue
        if column.name not in record:
            problems.append(f"{column.name} is missing")
            continue
        problem = check_value(column, record[column.name])
        if problem:
            problems.append(problem)
    return problems


# --------------------------------------------------------------------------- ingest batches


@dataclass(frozen=True)
class Validation:
    valid: pd.DataFrame
    """The valid rows: the 50 columns, int64 for integer columns, object (str/None) otherwise."""
    valid_index: np.ndarray
    """The position in the batch of each valid row."""
    invalid: list[tuple[Mapping[str, Any], list[str]]]
    """Each invalid row with every reason."""


def _each_cell(column: Column, values: np.ndarray) -> dict[int, str]:
    """``{row index: reason}`` by :func:`check_value` on every cell (mixed types, nulls, bad values)."""
    return {i: p for i, v in enumerate(values.tolist()) if (p := check_value(column, v))}


def _column_problems(column: Column, values: np.ndarray) -> tuple[dict[int, str], np.ndarray | None]:
    """``{row index: reason}`` for the cells of one column that ``check_value`` rejects, and the column
    as int64 when it is an integer column whose every cell is an int (None otherwise).

    The fast path: a column of one type (``infer_dtype``) whose distinct values all pass; anything
    else (a null, NaN, a bad value) is checked cell by cell, so the reasons are exactly ``check_value``'s.
    """
    kind = infer_dtype(values, skipna=True)  # skips None and NaN; every other cell is of ``kind``
    if kind not in ("integer" if column.is_integer else "string", "empty"):
        return _each_cell(column, values), None
    if column.is_integer:
        try:
            numbers = values.astype(np.int64)  # fails on None, NaN and integers beyond int64
        except (OverflowError, ValueError, TypeError):
            return _each_cell(column, values), None
        breaking = np.flatnonzero(integers_breaking_rules(column, numbers))
        if len(breaking):
            return {i: p for i in breaking.tolist() if (p := check_value(column, values[i]))}, numbers
        return {}, numbers
    # Strings and nulls: check each distinct value (pd.unique keeps None, NaN, pd.NA... apart).
    if any(check_value(column, value) for value in pd.unique(values)):
        return _each_cell(column, values), None
    return {}, None


def validate_records(records: Sequence[Mapping[str, Any]]) -> Validation:
    """Split ``records`` into valid rows (a typed frame) and invalid rows with every reason."""
    count = len(records)
    problems: dict[int, list[str]] = defaultdict(list)
    absent: dict[int, set[str]] = {}
    getter = operator.itemgetter(*schema.COLUMN_NAMES)
    try:
        tuples = list(map(getter, records))
    except (KeyError, TypeError):  # some row lacks a column or is not an object: the careful path
        blank = dict.fromkeys(schema.COLUMN_NAMES)
        tuples = []
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                problems[index].append("row is not a JSON object")
                absent[index] = set(RAW_COLUMN_NAMES)
                record = blank
            elif not record.keys() >= RAW_COLUMN_NAMES:
                absent[index] = set(RAW_COLUMN_NAMES - record.keys())
                record = {**blank, **record}
            tuples.append(getter(record))
    # Column-major: each column is contiguous for the checks below (and for the frame).
    table = np.empty((count, len(schema.COLUMNS)), dtype=object, order="F")
    if count:
        table[:] = tuples
    columns: dict[str, np.ndarray] = {}
    for position, column in enumerate(schema.COLUMNS):
        values = table[:, position]
        column_problems, numbers = _column_problems(column, values)
        columns[column.name] = values if numbers is None else numbers
        for index, reason in column_problems.items():
            missing = absent.get(index)
            if missing is not None and column.name in missing:
                if isinstance(records[index], Mapping):
                    problems[index].append(f"{column.name} is missing")
            else:
                problems[index].append(reason)
    valid = np.ones(count, dtype=bool)
    valid[list(problems)] = False
    everything = not problems  # the usual batch: no copy of the columns

    def kept(values: np.ndarray) -> np.ndarray:
        return values if everything else values[valid]

    frame = pd.DataFrame(
        {
            c.name: (
                kept(columns[c.name]).astype(np.int64, copy=False)
                if c.is_integer
                else pd.Series(kept(columns[c.name]), dtype=object, copy=False)
            )
            for c in schema.COLUMNS
        },
        copy=False,
    )
    invalid = [(records[i], problems[i]) for i in sorted(problems)]
    return Validation(frame, np.flatnonzero(valid), invalid)
