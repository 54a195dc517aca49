"""`/predict/batch`: column-wise validation and vectorised scoring agree with the single-record path.

The batch path checks whole columns and runs the request model only on the
records a column check flags; these tests prove that (a) it accepts and rejects
exactly the records the request model does, with the same messages, and (b) its
probabilities are the logged model's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readmission import schema
from readmission.serving.records import EXAMPLE_RECORD, BatchValidator, whole_number

_MISSING = object()
ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 7, 3.0, 1.5, 2**63 + 5, 2**64 - 1, "3", "", " ", "No", "Up", "Caucasian",
    "[10-20)", "None", "250.01", "V57", "E909", "42X", "250\n", "\u0662\u0665\u0660", "Cardiology",
    "Cardio!", "x" * 70, [], ["No"], {"a": 1},
]  # fmt: skip
"""Values of every JSON type, valid for some columns and invalid for others (incl. Unicode digits)."""

BAD_CHANGES: list[dict[str, Any]] = [
    {"age": "[10-25)"},
    {"num_medications": -1},
    {"time_in_hospital": "3"},
    {"num_procedures": 1.5},
    {"diag_1": "42X"},
    {"diag_2": "250\n"},
    {"diag_3": "\u0662\u0665\u0660"},  # non-ASCII digits: not an ICD-9-CM code
    {"admission_type_id": 99},
    {"admission_source_id": False},
    {"admission_type_id": 1.0},  # a code is exactly an integer
    {"patient_nbr": 2**63 + 5},  # beyond the raw table's BIGINT
    {"insulin": "Sometimes"},
    {"gender": None},
    {"number_inpatient": True},
    {"race": 5},
    {"metformin": {"dose": 1}},
    {"payer_code": ["MC"]},
    {"medical_specialty": "Cardio!"},
    {"medical_specialty": "x" * 70},
    {"encounter_id": 0},
    {"age": 40, "num_lab_procedures": 999, "diag_3": "1234"},
]
GOOD_CHANGES: list[dict[str, Any]] = [
    {},
    {"race": None, "weight": None, "payer_code": None, "diag_1": None, "medical_specialty": None},
    {"encounter_id": None, "patient_nbr": 2**63 - 1},  # identifiers: optional, up to the BIGINT column's range
    {"medical_specialty": "Neverseen", "A1Cresult": ">8", "max_glu_serum": "Norm"},
    {"readmitted": "NO", "unknown_key": [1, 2]},
    {"time_in_hospital": 3.0, "num_procedures": 0.0},  # integral floats, as pandas writes them
]


def _mixed_records(genuine_records: list[dict[str, Any]]) -> list[Any]:
    """Genuine rows with bad records, odd-but-valid records and non-objects spread among them."""
    records: list[Any] = [dict(r) for r in genuine_records[:300]]
    extras: list[Any] = [EXAMPLE_RECORD | change for change in BAD_CHANGES + GOOD_CHANGES]
    without_required = dict(EXAMPLE_RECORD)
    del without_required["num_lab_procedures"]
    without_nullable = {k: v for k, v in EXAMPLE_RECORD.items() if k not in ("race", "diag_2", "encounter_id")}
    extras += [without_required, without_nullable, 5, "record", None, [EXAMPLE_RECORD], {}]
    for position, extra in enumerate(extras):
        records.insert(7 * position + 3, extra)
    return records


@pytest.mark.integration
def test_batch_equals_the_single_record_path_and_the_logged_model(client, serving_champion, genuine_records):
    import mlflow.pyfunc

    records = _mixed_records(genuine_records)
    answer = client.post("/predict/batch", json={"records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()

    json = {"content-type": "application/json"}
    single = [client.post("/predict", content=orjson.dumps(record), headers=json) for record in records]
    assert {r.status_code for r in single} == {200, 422}
    expected_errors = [{"index": i, "errors": r.json()["errors"]} for i, r in enumerate(single) if r.status_code == 422]
    assert body["errors"] == expected_errors
    assert len(expected_errors) == len(BAD_CHANGES) + 6  # + a missing field, 4 non-objects and {}
    assert (body["count"], body["scored"]) == (len(records), len(records) - len(expected_errors))

    valid = [i for i, r in enumerate(single) if r.status_code == 200]
    assert [i for i, p in enumerate(body["predictions"]) if p is not None] == valid
    for i in valid:  # the single path's compiled dot product and the batch's predict_proba: equal to ~1 ulp
        one, got = single[i].json(), body["predictions"][i]
        assert (got["prediction"], got["risk_band"]) == (one["prediction"], one["risk_band"])
        assert got["readmission_risk"] == pytest.approx(one["readmission_risk"], rel=1e-9, abs=1e-12)

    mlflow.set_tracking_uri(serving_champion.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_champion.name}@champion")
    ids = dict.fromkeys(schema.IDENTIFIER_COLUMNS, 1)  # the signature wants int64 ids; they are not features
    frame = pd.DataFrame([{c: whole_number(records[i].get(c)) for c in schema.INPUT_COLUMNS} | ids for i in valid])
    expected = np.asarray(pyfunc.predict(frame))[:, 1]
    got = np.array([body["predictions"][i]["readmission_risk"] for i in valid])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.integration
def test_the_vectorised_batch_path_is_in_use_and_equals_the_pipeline(client, genuine_records):
    predictor = client.app.state.manager.current.predictor
    assert predictor._encoder is not None, "the vectorised encoder was disabled by its self-check"
    frame = pd.DataFrame(genuine_records, columns=list(schema.INPUT_COLUMNS))
    np.testing.assert_allclose(
        predictor.predict_frame(frame), predictor.pipeline.predict_proba(frame)[:, 1], rtol=1e-9, atol=1e-12
    )
    batch = BatchValidator().validate(genuine_records)
    assert batch.errors == {}
    np.testing.assert_allclose(
        predictor.predict_frame(batch.frame), predictor.pipeline.predict_proba(frame)[:, 1], rtol=1e-9, atol=1e-12
    )


def test_an_empty_batch_and_a_batch_of_non_objects():
    validator = BatchValidator()
    empty = validator.validate([])
    assert (empty.count, len(empty.frame), empty.errors) == (0, 0, {})
    odd = validator.validate([1, None, "x"])
    assert sorted(odd.errors) == [0, 1, 2]
    for value, messages in zip([1, None, "x"], odd.errors.values(), strict=True):
        assert messages == [f"body: Input should be an object (got {value!r})"]


@st.composite
def _record(draw: st.DrawFn) -> dict[str, Any]:
    record = dict(EXAMPLE_RECORD)
    for name in draw(st.lists(st.sampled_from(schema.INPUT_COLUMNS), max_size=4, unique=True)):
        value = draw(st.sampled_from([_MISSING, *ODD_VALUES]))
        if value is _MISSING:
            record.pop(name, None)
        else:
            record[name] = value
    return record


@given(records=st.lists(_record(), min_size=1, max_size=30))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_column_checks_accept_and_reject_exactly_what_the_request_model_does(records):
    validator = BatchValidator()
    batch = validator.validate(records)
    expected = {i: validator.precise_errors(r) for i, r in enumerate(records)}
    assert batch.errors == {i: e for i, e in expected.items() if e}
    assert batch.valid.tolist() == [i for i, e in expected.items() if not e]
    assert len(batch.frame) == len(batch.valid)
    for row, index in zip(batch.frame.astype(object).to_dict("records"), batch.valid.tolist(), strict=True):
        for name in ("age", "num_lab_procedures", "admission_type_id", "diag_1", "race", "insulin"):
            want = records[index].get(name)
            got = row[name]
            assert (got is None or got != got) if want is None else got == want, (name, got, want)
