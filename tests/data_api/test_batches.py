"""What the data API serves: every encounter once, the 50 columns, the CSV's values, strict JSON."""

from __future__ import annotations

import gzip

import httpx
import numpy as np
import pytest

from readmission import schema, validation
from tests.support import services
from tests.support.data_api import Served, strict_loads

pytestmark = [pytest.mark.integration, pytest.mark.data]

TOTAL_ROWS = 101_766


def test_seven_batches_of_15000_and_one_of_11766(served: Served) -> None:
    metadata = served.metadata
    assert metadata["total_batches"] == 7
    assert metadata["batch_size"] == 15_000
    assert metadata["total_rows"] == TOTAL_ROWS
    assert metadata["columns"] == list(schema.COLUMN_NAMES)
    sizes = [15_000] * 6 + [11_766]
    assert [b["rows"] for b in metadata["batches"]] == sizes
    assert [b["batch_number"] for b in metadata["batches"]] == list(range(1, 8))
    for number, size in enumerate(sizes, start=1):
        batch = served.batches[number]
        assert set(batch) == {"batch_number", "total_batches", "batch_size", "data"}
        assert (batch["batch_number"], batch["total_batches"], batch["batch_size"]) == (number, 7, 15_000)
        assert len(batch["data"]) == size


def test_batches_are_disjoint_and_cover_every_encounter(served: Served) -> None:
    ids = [row["encounter_id"] for batch in served.batches.values() for row in batch["data"]]
    assert len(ids) == TOTAL_ROWS
    assert len(set(ids)) == TOTAL_ROWS


def test_every_row_has_exactly_the_50_columns_in_order(served: Served) -> None:
    for batch in served.batches.values():
        for row in batch["data"]:
            assert tuple(row) == schema.COLUMN_NAMES


@pytest.fixture(scope="module")
def served_columns(served: Served) -> dict[str, list]:
    """Every served value by column, batch 1 first."""
    rows = [row for batch in served.batches.values() for row in batch["data"]]
    return {name: [row[name] for row in rows] for name in schema.COLUMN_NAMES}


def test_values_are_the_csv_values(served_columns: dict[str, list], csv_columns: dict[str, list[str]]) -> None:
    """Integers for ids/codes/counts, the CSV string otherwise, null exactly where the CSV has ``?``."""
    assert tuple(csv_columns) == schema.COLUMN_NAMES
    position = {int(encounter): i for i, encounter in enumerate(csv_columns["encounter_id"])}
    columns = served_columns
    order = [position[encounter] for encounter in columns["encounter_id"]]
    for column in schema.COLUMNS:
        raw = [csv_columns[column.name][i] for i in order]
        values = columns[column.name]
        if column.is_integer:
            assert {type(v) for v in values} == {int}, column.name
            assert values == [int(v) for v in raw], column.name
        else:
            assert {type(v) for v in values} <= {str, type(None)}, column.name
            assert values == [None if v == "?" else v for v in raw], column.name


def test_missing_is_null_and_none_is_a_string(served_columns: dict[str, list]) -> None:
    columns = served_columns
    assert sum(value is None for value in columns["weight"]) > 90_000
    for column in ("max_glu_serum", "A1Cresult"):
        assert None not in columns[column]
        assert "None" in columns[column]
    assert columns["max_glu_serum"].count("None") == 96_420


def test_every_value_is_valid_for_the_schema(served_columns: dict[str, list]) -> None:
    for name, values in served_columns.items():
        for value in set(values):
            assert validation.check_value(schema.BY_NAME[name], value) is None, (name, value)


def test_bodies_are_strict_json(served: Served) -> None:
    for body in served.bodies.values():
        assert b"NaN" not in body
        assert b"Infinity" not in body
    # and the `served` fixture parsed every body with strict_loads, which raises on them


def test_strict_parser_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        strict_loads('{"a": NaN}')


def test_order_is_the_fixed_seeded_shuffle(served: Served, csv_columns: dict[str, list[str]]) -> None:
    ids = csv_columns["encounter_id"]
    order = np.random.default_rng(served.metadata["shuffle_seed"]).permutation(len(ids))
    expected = [int(ids[i]) for i in order[:15_000]]
    assert [row["encounter_id"] for row in served.batches[1]["data"]] == expected


def test_gzip_gives_the_same_body(data_api: services.DataApi, served: Served) -> None:
    with httpx.stream(
        "GET", f"{data_api.url}/get_data", params={"batch": 7}, headers={"Accept-Encoding": "gzip"}
    ) as response:
        compressed = b"".join(response.iter_raw())
        assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed) == served.bodies[7]
    plain = httpx.get(f"{data_api.url}/get_data", params={"batch": 7}, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.content == served.bodies[7]


def test_current_batch_is_one_of_the_batches(data_api: services.DataApi, served: Served) -> None:
    body = httpx.get(f"{data_api.url}/get_data", timeout=60).content
    assert body in served.bodies.values()


def test_health(data_api: services.DataApi) -> None:
    response = httpx.get(f"{data_api.url}/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["status"] == "ok"
    assert response.json()["total_rows"] == TOTAL_ROWS
