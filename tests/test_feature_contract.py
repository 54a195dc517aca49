"""The model contract: ``features.engineer`` output on fixed records, and the feature-code version.

Saved models call ``readmission.features`` by import path, so an edit there (or in
``readmission.codes``) changes the scores of every saved model. This test fails on such an
edit. If the change is intended, regenerate the golden file (the message says how): the
feature version changes with it, and the API then refuses models trained before the change
until a model is trained with the new code.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from readmission import codes, features, schema

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).parent / "golden" / "engineer.json"
REGENERATE = f"{sys.executable} -m tests.test_feature_contract"


def _cell(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _engineered(records: list[dict]) -> list[dict]:
    frame = pd.DataFrame(records, columns=list(schema.INPUT_COLUMNS))
    return [{k: _cell(v) for k, v in row.items()} for row in features.engineer(frame).to_dict("records")]


def test_engineer_output_on_fixed_records_is_pinned() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert _engineered(golden["records"]) == golden["features"], (
        f"features.engineer changed what it computes: saved models would score differently. "
        f"If intended, regenerate the golden file with `{REGENERATE}`"
    )
    assert [features.engineer_record(r) for r in golden["records"]] == golden["features"]


def test_the_feature_version_names_the_feature_code() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert golden["feature_version"] == features.FEATURE_VERSION, (
        f"the feature code changed (version {features.FEATURE_VERSION}, golden {golden['feature_version']}): "
        f"the API will refuse models trained with the old code. If intended, run `{REGENERATE}`"
    )


def test_the_version_ignores_comments_and_docstrings_but_not_code(tmp_path) -> None:
    source = Path(features.__file__).read_text()
    original = tmp_path / "features.py"
    original.write_text(source)
    reworded = tmp_path / "reworded" / "features.py"
    reworded.parent.mkdir()
    reworded.write_text(
        source.replace('"""Model features of one raw', '"""The model features of one raw') + "\n# note\n"
    )
    edited = tmp_path / "edited" / "features.py"
    edited.parent.mkdir()
    edited.write_text(source.replace('level == "Up"', 'level == "Steady"'))
    assert features.code_version(original) == features.code_version(reworded)
    assert features.code_version(original) != features.code_version(edited)


def _golden_records() -> list[dict]:
    """Genuine rows chosen to cover the code maps (every diagnosis group, lab levels, unknown ids), plus edges."""
    from readmission.config import DATA_CSV
    from readmission.data_api.loading import read_raw_csv, to_records

    raw = read_raw_csv(DATA_CSV).head(5000)
    picked: dict[tuple, dict] = {}
    for record in to_records(raw):
        key = (
            codes.icd9_group(record["diag_1"]),
            record["max_glu_serum"],
            record["A1Cresult"],
            record["admission_type_id"] in codes.CODE_GROUPS["admission_type_id"],
        )
        picked.setdefault(key, record)
    records = list(picked.values())[:30]
    edge = dict(records[0], diag_1=None, diag_2="V57", diag_3="E909", race=None, gender="Unknown/Invalid")
    edge.update(medical_specialty=None, admission_type_id=99, age="[90-100)", insulin="Up", metformin="Down")
    return [*records, edge]


if __name__ == "__main__":  # regenerate the golden file after an intended change of the feature code
    records = _golden_records()
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(
        json.dumps(
            {"feature_version": features.FEATURE_VERSION, "records": records, "features": _engineered(records)},
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )
    print(f"{GOLDEN}: {len(records)} records, feature version {features.FEATURE_VERSION}")
