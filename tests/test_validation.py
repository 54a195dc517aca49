"""One validator: ingest, /predict and /predict/batch accept and reject the same values with the same sentence."""

from __future__ import annotations

import pytest

from readmission import schema, validation
from readmission.serving.records import EXAMPLE_RECORD, BatchValidator

pytestmark = pytest.mark.unit

HOSTILE = [
    ("diag_1", "250\n"),
    ("diag_1", "\n250"),
    ("diag_2", "\u0662\u0665\u0660"),  # Arabic-Indic digits
    ("diag_3", "\uff12\uff15\uff10"),  # full-width digits
    ("diag_1", "V\u0665\u0667"),
    ("medical_specialty", "Cardiology\n"),
    ("medical_specialty", "Cardiolog\u00eda"),
    ("medical_specialty", "C" * 65),
    ("medical_specialty", "x'; DROP TABLE diabetes_raw; --"),
    ("race", "Caucasian\n"),
    ("age", "[10-20)\n"),
    ("num_medications", -1),
    ("time_in_hospital", "3"),
    ("admission_type_id", 99),
    ("admission_type_id", True),  # True == 1: a Literal[1, ...] accepted it
    ("admission_type_id", 1.0),
    ("discharge_disposition_id", False),
    ("admission_source_id", 7.0),
    ("num_procedures", 10**60),
    ("gender", None),
]
HOSTILE_IDS = [f"{name}-{index}" for index, (name, _) in enumerate(HOSTILE)]


@pytest.mark.parametrize(("name", "value"), HOSTILE, ids=HOSTILE_IDS)
def test_a_bad_value_gets_one_sentence_everywhere(name, value):
    record = dict(EXAMPLE_RECORD, **{name: value})
    expected = [validation.check_value(schema.BY_NAME[name], value)]
    assert str(expected[0]).startswith(name)
    validator = BatchValidator()
    assert validator.precise_errors(record) == expected  # /predict: the request model, then format_error
    assert validator.validate([record]).errors == {0: expected}  # /predict/batch: the column checks
    ingested = validation.validate_records([dict(record, readmitted="NO")])  # ingest
    assert [reasons for _, reasons in ingested.invalid] == [expected]


@pytest.mark.parametrize(("name", "value"), [("diag_1", "250.01"), ("diag_2", "V57"), ("diag_3", "E909"),
                                             ("medical_specialty", "Surgery-Cardiovascular/Thoracic")])  # fmt: skip
def test_good_values_pass_everywhere(name, value):
    record = dict(EXAMPLE_RECORD, **{name: value})
    assert validation.check_record(record) == []
    assert BatchValidator().precise_errors(record) == []
    assert validation.validate_records([dict(record, readmitted="NO")]).invalid == []


def test_the_published_pattern_is_ascii_and_anchored():
    for pattern in (validation.ICD9_PATTERN, validation.TEXT_PATTERN):
        assert "\\d" not in pattern.pattern
        assert (pattern.pattern[0], pattern.pattern[-1]) == ("^", "$")


ODD_VALUES = [None, float("nan"), True, 2.0, 2**70, -1, "", " ", "3", [1], {"a": 1}, "NO", "Steady", "250.01"]


def test_the_batch_validator_agrees_with_check_record_on_odd_values_in_every_column():
    """The column-at-a-time checks (distinct values, int64 arrays) give exactly check_record's reasons."""
    base = dict(EXAMPLE_RECORD, readmitted="NO")
    records = [dict(base, encounter_id=i + 1) for i in range(3)]  # valid rows around the odd ones
    for column in schema.COLUMNS:
        if column.name != "encounter_id":
            records += [dict(base, encounter_id=len(records) + 1, **{column.name: value}) for value in ODD_VALUES]
    checked = validation.validate_records(records)
    expected = [(r, problems) for r in records if (problems := validation.check_record(r, require_target=True))]
    assert [(record, reasons) for record, reasons in checked.invalid] == expected
    assert len(checked.valid) == len(records) - len(expected)
    assert checked.valid["encounter_id"].tolist() == [
        r["encounter_id"] for r in records if not validation.check_record(r, require_target=True)
    ]


def test_a_code_that_is_not_exactly_an_integer_is_refused_with_the_accepted_codes():
    column = schema.BY_NAME["admission_type_id"]
    for value in (True, 1.0, "1"):
        assert validation.check_value(column, value) == (
            f"admission_type_id must be one of the codes 1, 2, 3, 4, 5, 6, 7, 8, got {value!r}"
        )
    unknown = validation.check_value(column, 99)
    assert unknown == "admission_type_id 99 is not a known code (one of 1, 2, 3, 4, 5, 6, 7, 8)"
    assert validation.check_value(column, 1) is None


@pytest.mark.parametrize(
    ("name", "value", "echo"),
    [
        ("num_procedures", 10**5000, "1" + "0" * 39 + "…"),  # repr() refuses to write it (4,300 digits at most)
        ("num_procedures", -(10**60) - 7, "-" + "1" + "0" * 38 + "…"),
        ("admission_type_id", 123456789 * 10**50, "123456789" + "0" * 31 + "…"),
        ("diag_1", "9" * 1000, "'" + "9" * 39 + "…"),
        ("time_in_hospital", 2.5, "2.5"),
    ],
    ids=["5001-digits", "negative", "code", "long-text", "short"],
)
def test_an_echoed_value_is_cut_to_40_characters(name, value, echo):
    message = validation.check_value(schema.BY_NAME[name], value)
    assert message is not None
    assert message.startswith(name)
    assert echo in message
    assert len(message) < 200
