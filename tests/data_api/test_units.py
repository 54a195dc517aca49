"""Pure pieces of the data API: cycle arithmetic, the state file, parsing, gzip negotiation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from readmission.data_api.app import parse_batch_number
from readmission.data_api.batches import batch_count, build_batches, shuffled_order
from readmission.data_api.compression import accepts_gzip
from readmission.data_api.cycle import Cycle, position_at
from readmission.data_api.errors import BatchNotFoundError, InvalidBatchError, StateFileError

pytestmark = pytest.mark.unit

LAYOUT = {"total_rows": 10, "batch_size": 3, "shuffle_seed": 1}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(-50, 1), (0, 1), (9.99, 1), (10, 2), (35, 4), (69.99, 7), (70, None), (10_000, None)],
)
def test_position_at(elapsed: float, expected: int | None) -> None:
    position = position_at(100 + elapsed, started_at=100, interval=10, total_batches=7)
    assert position.current_batch == expected
    assert position.exhausted is (expected is None)
    if expected is not None:
        assert position.next_change_at == 100 + expected * 10


def test_cycle_is_persisted_and_shared(tmp_path: Path) -> None:
    clock = FakeClock()
    first = Cycle(tmp_path, interval=10, total_batches=4, layout=LAYOUT, clock=clock)
    clock.now += 25
    assert first.position().current_batch == 3
    second = Cycle(tmp_path, interval=10, total_batches=4, layout=LAYOUT, clock=clock)  # a restarted process
    assert second.started_at() == first.started_at()
    assert second.position().current_batch == 3
    second.restart()  # another worker restarts: the first one sees it
    assert first.position().current_batch == 1
    clock.now += 100
    assert first.position().exhausted


def test_a_new_layout_starts_a_new_cycle(tmp_path: Path) -> None:
    clock = FakeClock()
    Cycle(tmp_path, interval=10, total_batches=4, layout=LAYOUT, clock=clock)
    clock.now += 25
    other = Cycle(tmp_path, interval=10, total_batches=2, layout={**LAYOUT, "batch_size": 5}, clock=clock)
    assert other.position().current_batch == 1


def test_an_unreadable_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "cycle.json").write_text("{not json")
    with pytest.raises(StateFileError, match="delete it to start a new cycle"):
        Cycle(tmp_path, interval=10, total_batches=4, layout=LAYOUT)


def test_state_file_contents(tmp_path: Path) -> None:
    Cycle(tmp_path, interval=10, total_batches=4, layout=LAYOUT, clock=FakeClock(5.0))
    state = json.loads((tmp_path / "cycle.json").read_text())
    assert state["cycle_started_at"] == 5.0
    assert state["layout"] == LAYOUT
    assert list(tmp_path.iterdir()) == [tmp_path / "cycle.json"]  # no temporary file left


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), (" 7 ", 7), ("+2", 2), ("-1", -1), ("007", 7)])
def test_parse_batch_number(raw: str, expected: int) -> None:
    assert parse_batch_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "a", "1.0", "1e2", "١", "3_0", "0x1", "1 2"])
def test_parse_batch_number_rejects(raw: str) -> None:
    with pytest.raises(InvalidBatchError):
        parse_batch_number(raw)


def test_batches_cut() -> None:
    records = [{"encounter_id": i} for i in range(10)]
    batches = build_batches(records, batch_size=3, seed=1)
    assert batches.total == batch_count(10, 3) == 4
    assert batches.sizes == (3, 3, 3, 1)
    ids = [row["encounter_id"] for n in range(1, 5) for row in json.loads(batches.body(n))["data"]]
    assert ids == [int(i) for i in shuffled_order(10, 1)]
    with pytest.raises(BatchNotFoundError, match="batches are numbered 1 to 4"):
        batches.body(5)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("*", True),
        ("identity", False),
        ("", False),
        (None, False),
    ],
)
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected
