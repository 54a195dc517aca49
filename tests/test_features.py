import math

import numpy as np
import pandas as pd
import pytest

from readmission import codes, features, schema


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("428", "Circulatory"), ("390", "Circulatory"), ("459.9", "Circulatory"), ("785", "Circulatory"),
        ("486", "Respiratory"), ("786.5", "Respiratory"), ("560", "Digestive"), ("787", "Digestive"),
        ("250", "Diabetes"), ("250.83", "Diabetes"), ("250.01", "Diabetes"), ("996", "Injury"),
        ("800", "Injury"), ("715", "Musculoskeletal"), ("599", "Genitourinary"), ("788", "Genitourinary"),
        ("174", "Neoplasms"), ("239", "Neoplasms"), ("V57", "Other"), ("E909", "Other"),
        ("8", "Other"), ("276", "Other"), ("249", "Other"), ("251", "Other"), (None, "Missing"),
    ],
)  # fmt: skip
def test_icd9_groups(code, group):
    assert codes.icd9_group(code) == group


@pytest.mark.parametrize(("band", "years"), [("[0-10)", 5.0), ("[70-80)", 75.0), ("[90-100)", 95.0)])
def test_age_midpoints(band, years):
    assert codes.age_years(band) == years
    assert math.isnan(codes.age_years(None))


def test_missing_markers_become_explicit_levels_and_are_never_imputed():
    raw = {name: None for name in schema.INPUT_COLUMNS} | _minimal_record()
    raw.update(race=None, gender="Unknown/Invalid", medical_specialty=None)
    out = features.engineer_record(raw)
    assert (out["race"], out["gender"], out["medical_specialty"]) == (
        "Unknown",
        "Unknown",
        "Unknown",
    )


def test_death_and_hospice_encounters_are_excluded_and_counted():
    rows = [_minimal_record() | {"encounter_id": i, "discharge_disposition_id": d} for i, d in
            enumerate([1, 11, 13, 14, 19, 20, 21, 3], start=1)]  # fmt: skip
    result = features.clean(pd.DataFrame(rows))
    assert result.excluded == 6
    assert result.frame["encounter_id"].tolist() == [1, 8]


@pytest.mark.parametrize(("target", "labels"), [("any", [0, 1, 1]), ("within_30_days", [0, 0, 1])])
def test_target_definitions(target, labels):
    readmitted = pd.Series(["NO", ">30", "<30"])
    assert features.label(readmitted, target).tolist() == labels


@pytest.mark.data
def test_record_path_equals_table_path_on_the_whole_data_set(genuine_raw):
    table = features.engineer(genuine_raw)
    records = genuine_raw.replace({np.nan: None}).to_dict("records")
    one_by_one = pd.DataFrame([features.engineer_record(r) for r in records])[list(features.FEATURE_COLUMNS)]
    pd.testing.assert_frame_equal(one_by_one, table.reset_index(drop=True), check_dtype=False)


@pytest.mark.data
def test_genuine_counts(genuine_raw):
    result = features.clean(genuine_raw)
    assert result.excluded == 2423
    assert len(result.frame) == 99343
    assert list(result.frame.columns) == list(features.CLEAN_COLUMNS)


def _minimal_record() -> dict:
    return {
        "encounter_id": 1, "patient_nbr": 1, "race": "Caucasian", "gender": "Female", "age": "[50-60)",
        "weight": None, "admission_type_id": 1, "discharge_disposition_id": 1, "admission_source_id": 7,
        "time_in_hospital": 3, "payer_code": None, "medical_specialty": "Cardiology",
        "num_lab_procedures": 40, "num_procedures": 1, "num_medications": 12, "number_outpatient": 0,
        "number_emergency": 0, "number_inpatient": 1, "diag_1": "428", "diag_2": "250.01", "diag_3": None,
        "number_diagnoses": 7, "max_glu_serum": "None", "A1Cresult": ">8",
        **dict.fromkeys(schema.MEDICATIONS, "No"), "insulin": "Up", "change": "Ch", "diabetesMed": "Yes",
        "readmitted": "NO",
    }  # fmt: skip
