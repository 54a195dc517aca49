"""The time-based current batch against real servers: position, persistence, exhaustion, restart.

The position is pinned by writing the cycle's start into the state file before
the server starts (an hour-long interval), so nothing depends on how fast the
machine is; one test lets a one-second interval run out for real.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from readmission.data_api.cycle import Cycle
from tests.support import services
from tests.support.data_api import strict_loads

pytestmark = [pytest.mark.integration, pytest.mark.data]

HOUR = 3600.0
LAYOUT = {"total_rows": 101_766, "batch_size": 15_000, "shuffle_seed": 42}


def start_cycle_in_the_past(state_dir: Path, seconds_ago: float) -> None:
    Cycle(state_dir, interval=HOUR, total_batches=7, layout=LAYOUT, clock=lambda: time.time() - seconds_ago)


def current(url: str) -> dict:
    return strict_loads(httpx.get(f"{url}/get_data", timeout=60).content)


def test_current_batch_follows_the_clock_and_survives_a_restart(service_dir: Path) -> None:
    state_dir = service_dir / "cycle-persist"
    start_cycle_in_the_past(state_dir, 2.5 * HOUR)
    seen = []
    for _ in range(2):  # the second server is the same service after a process restart
        with services.data_api_server(service_dir, interval_seconds=HOUR, state_dir=state_dir) as api:
            metadata = httpx.get(f"{api.url}/batches").json()
            batch = current(api.url)
            seen.append((metadata["cycle_started_at"], metadata["current_batch"], batch["batch_number"]))
            assert batch == strict_loads(httpx.get(f"{api.url}/get_data", params={"batch": 3}, timeout=60).content)
    assert seen[0] == seen[1], "a restart must neither replay nor skip"
    assert seen[0][1:] == (3, 3)


def test_a_short_interval_runs_through_every_batch_then_stays_exhausted(service_dir: Path) -> None:
    """With a 1 s interval the position only moves forward, ends exhausted and never wraps round."""
    with services.data_api_server(service_dir, interval_seconds=1.0) as api:
        observed: list[int | None] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            position = httpx.get(f"{api.url}/health").json()["current_batch"]
            if not observed or observed[-1] != position:
                observed.append(position)
            if position is None:
                break
            time.sleep(0.05)
        assert observed[-1] is None, f"not exhausted after 60 s: {observed}"
        numbers = [n for n in observed if n is not None]
        assert numbers == sorted(numbers)
        assert set(numbers) <= set(range(1, 8))

        answer = httpx.get(f"{api.url}/get_data")
        assert answer.status_code == 200
        body = strict_loads(answer.content)
        assert body["exhausted"] is True
        assert body["batch_number"] is None
        assert body["data"] == []
        assert "exhausted" in body["message"]
        metadata = httpx.get(f"{api.url}/batches").json()
        assert metadata["exhausted"] is True
        assert metadata["current_batch"] is None
        time.sleep(1.5)
        assert current(api.url)["exhausted"] is True, "it must never wrap round"
        assert batch_number(api.url, 7) == 7, "numbered batches stay available"

        restarted = httpx.post(f"{api.url}/restart", headers={"Authorization": f"Bearer {api.admin_token}"})
        assert restarted.status_code == 200
        assert restarted.json()["status"] == "restarted"
        assert restarted.json()["current_batch"] == 1
        assert httpx.get(f"{api.url}/batches").json()["cycle_started_at"] > metadata["cycle_started_at"]


def batch_number(url: str, number: int) -> int:
    return strict_loads(httpx.get(f"{url}/get_data", params={"batch": number}, timeout=60).content)["batch_number"]
