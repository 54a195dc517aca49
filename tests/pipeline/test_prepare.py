"""`pipeline.prepare` (what `readmission prepare` runs): cleaning, patient-grouped splits, Parquet export, manifest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from readmission import export, features, ingest, pipeline, schema, split, storage
from readmission.config import Settings
from tests.support import services

pytestmark = pytest.mark.integration


def _ingest_in_batches(engine, records, size):
    for start in range(0, len(records), size):
        ingest.ingest_records(engine, records[start : start + size], start // size + 1)


def _prepare(dbs, local_dir: Path, dataset_uri: str, *, target="any", s3_endpoint_url=None) -> dict:
    settings = Settings(
        raw_database_url=dbs.raw_url,
        clean_database_url=dbs.clean_url,
        readmission_target=target,
        dataset_uri=str(dataset_uri),
        s3_endpoint_url=s3_endpoint_url,
        local_dir=local_dir / "var",
    )
    return pipeline.prepare(settings)


def _split_tables(engine) -> dict[str, pd.DataFrame]:
    return {
        name: storage.read_table(engine, storage.clean_table(table)) for name, table in storage.SPLIT_TABLES.items()
    }


def test_prepare_cleans_excludes_splits_and_exports(dbs, sample, tmp_path):
    _ingest_in_batches(dbs.raw, sample, 1000)
    result = _prepare(dbs, tmp_path, str(tmp_path / "ds"))

    dead_or_hospice = sum(r["discharge_disposition_id"] in schema.NOT_READMITTABLE_DISCHARGE_IDS for r in sample)
    assert dead_or_hospice > 0
    assert (result["raw"], result["excluded"], result["clean"]) == (3000, dead_or_hospice, 3000 - dead_or_hospice)
    clean = storage.read_table(dbs.clean, storage.clean_table(storage.CLEAN_TABLE))
    assert list(clean.columns) == list(features.CLEAN_COLUMNS)
    assert len(clean) == result["clean"]
    assert not clean["discharge_disposition_id"].isin(list(schema.NOT_READMITTABLE_DISCHARGE_IDS)).any()
    assert set(clean["label"]) == {0, 1}

    tables = _split_tables(dbs.clean)
    assert {name: len(frame) for name, frame in tables.items()} == result["splits"]
    assert sum(result["splits"].values()) == result["clean"]
    patients = [set(frame["patient_nbr"]) for frame in tables.values()]
    assert sum(map(len, patients)) == len(set().union(*patients))  # no patient in two splits
    for name, frame in tables.items():
        assert {"encounter_id", "patient_nbr"} <= set(frame.columns)
        assert all(split.split_of(p) == name for p in frame["patient_nbr"])


def test_prepare_is_idempotent(dbs, sample, tmp_path):
    _ingest_in_batches(dbs.raw, sample[:1500], 500)
    first = _prepare(dbs, tmp_path, str(tmp_path / "ds"))
    second = _prepare(dbs, tmp_path, str(tmp_path / "ds"))
    assert first | {"manifest_uri": None} == second | {"manifest_uri": None}
    assert storage.count_rows(dbs.clean, storage.clean_table(storage.CLEAN_TABLE)) == first["clean"]
    assert first["data_version"] == second["data_version"]


def test_a_patient_never_moves_when_batches_are_added(dbs, genuine_records, tmp_path):
    rows = genuine_records[:6000]
    _ingest_in_batches(dbs.raw, rows[:3000], 1500)
    before = _prepare(dbs, tmp_path, str(tmp_path / "a"))
    split_before = {p: name for name, frame in _split_tables(dbs.clean).items() for p in frame["patient_nbr"]}
    ingest.ingest_records(dbs.raw, rows[3000:], 3)
    after = _prepare(dbs, tmp_path, str(tmp_path / "b"))
    split_after = {p: name for name, frame in _split_tables(dbs.clean).items() for p in frame["patient_nbr"]}
    assert after["clean"] > before["clean"]
    assert split_before.items() <= split_after.items()
    assert after["data_version"] != before["data_version"]


def test_the_target_setting_changes_the_label(dbs, sample, tmp_path):
    _ingest_in_batches(dbs.raw, sample[:1000], 1000)
    _prepare(dbs, tmp_path, str(tmp_path / "ds"), target="within_30_days")
    clean = storage.read_table(dbs.clean, storage.clean_table(storage.CLEAN_TABLE))
    assert ((clean["readmitted"] == "<30") == (clean["label"] == 1)).all()


def test_manifest_and_s3_round_trip(dbs, sample, s3, monkeypatch, tmp_path):
    for key, value in services.S3_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    bucket = s3.create_bucket()
    root = f"s3://{bucket}/datasets"
    _ingest_in_batches(dbs.raw, sample[:2000], 1000)
    result = _prepare(dbs, tmp_path, root, s3_endpoint_url=s3.endpoint_url)

    manifest = export.read_manifest(root, s3_endpoint_url=s3.endpoint_url)  # the latest copy
    assert manifest == export.read_manifest(result["manifest_uri"], s3_endpoint_url=s3.endpoint_url)
    assert manifest["uri"] == f"{root}/{result['data_version']}/manifest.json"
    assert (manifest["target"], manifest["data_version"], manifest["clean_rows"]) == (
        "any", result["data_version"], result["clean"]
    )  # fmt: skip
    assert manifest["created_at"]
    client = s3.client()
    tables = _split_tables(dbs.clean)
    for name in split.SPLITS:
        entry = manifest["splits"][name]
        assert entry["uri"] == f"{root}/{result['data_version']}/{name}.parquet"
        assert entry["rows"] == result["splits"][name] == len(tables[name])
        assert entry["columns"] == list(features.CLEAN_COLUMNS)
        body = client.get_object(Bucket=bucket, Key=f"datasets/{result['data_version']}/{name}.parquet")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        frame = export.load_split(manifest, name, s3_endpoint_url=s3.endpoint_url)
        assert sorted(frame["encounter_id"]) == sorted(tables[name]["encounter_id"])
    tampered = json.loads(json.dumps(manifest))
    tampered["splits"]["test"]["sha256"] = "0" * 64
    with pytest.raises(export.DatasetError, match="does not match"):
        export.load_split(tampered, "test", s3_endpoint_url=s3.endpoint_url)


def test_prepare_on_an_empty_raw_table_says_what_to_do(dbs, tmp_path):
    with pytest.raises(pipeline.NoRawDataError, match="readmission ingest"):
        _prepare(dbs, tmp_path, str(tmp_path))


@pytest.mark.parametrize("awkward", ["a,b", 'say "hi"', "back\\slash", "tab\there"])
def test_bulk_insert_round_trips_values_that_need_quoting(dbs, sample, awkward):
    frame = features.clean(_frame(sample[:50]), "any").frame
    frame.loc[0, "medical_specialty"] = awkward
    frame.loc[1, "race"] = None
    table = storage.clean_table(storage.CLEAN_TABLE)
    with dbs.clean.begin() as conn:
        assert storage.replace_table(conn, table, frame) == len(frame)
    stored = storage.read_table(dbs.clean, table).set_index("encounter_id")
    assert stored.loc[frame.loc[0, "encounter_id"], "medical_specialty"] == awkward
    assert stored.loc[frame.loc[1, "encounter_id"], "race"] is None


def _frame(records):
    return pd.DataFrame({name: pd.Series([r[name] for r in records], dtype=object) for name in schema.COLUMN_NAMES})
