"""The time-based current batch, with the cycle's start persisted in a state file.

Batch ``k`` is current from ``start + (k-1) * interval`` to ``start + k * interval``;
after the last batch the cycle is exhausted (it never wraps round). Only the
start is stored, so every process (gunicorn workers, a restarted container, a
rebooted machine) computes the same position: a restart neither replays nor
skips. Wall-clock time keeps running while the machine is off; batches that
became current meanwhile stay available as ``/get_data?batch=N``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from readmission.data_api.errors import StateFileError

logger = logging.getLogger(__name__)

STATE_FILE_NAME = "cycle.json"
STATE_VERSION = 1

Clock = Callable[[], float]


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


@dataclass(frozen=True)
class Position:
    """Where the cycle is at one instant."""

    started_at: float
    current_batch: int | None
    """1..total, or None once exhausted."""
    total_batches: int
    next_change_at: float | None
    """When the current batch advances (or the cycle ends); None once exhausted."""

    @property
    def exhausted(self) -> bool:
        return self.current_batch is None

    def as_json(self) -> dict[str, Any]:
        return {
            "cycle_started_at": iso(self.started_at),
            "current_batch": self.current_batch,
            "exhausted": self.exhausted,
            "next_change_at": None if self.next_change_at is None else iso(self.next_change_at),
        }


def position_at(now: float, *, started_at: float, interval: float, total_batches: int) -> Position:
    elapsed = max(0.0, now - started_at)  # a clock set back never goes before batch 1
    index = math.floor(elapsed / interval)
    if index >= total_batches:
        return Position(started_at, None, total_batches, None)
    return Position(started_at, index + 1, total_batches, started_at + (index + 1) * interval)


class Cycle:
    """Reads and writes ``<state_dir>/cycle.json``; cheap to ask on every request."""

    def __init__(
        self,
        state_dir: Path,
        *,
        interval: float,
        total_batches: int,
        layout: Mapping[str, int],
        clock: Clock = time.time,
    ) -> None:
        self.path = state_dir / STATE_FILE_NAME
        self.interval = interval
        self.total_batches = total_batches
        self.layout = dict(layout)
        self.clock = clock
        self._cached: tuple[tuple[int, int, int], float] | None = None
        state_dir.mkdir(parents=True, exist_ok=True)
        self._ensure_started()

    # ------------------------------------------------------------------ queries

    def position(self) -> Position:
        return position_at(
            self.clock(),
            started_at=self.started_at(),
            interval=self.interval,
            total_batches=self.total_batches,
        )

    def started_at(self) -> float:
        """The persisted start, re-read only when the file changed (another worker restarted)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            logger.warning("state file %s disappeared: starting a new cycle", self.path)
            return self.restart().started_at
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        started_at = self._read()["cycle_started_at"]
        self._cached = (key, started_at)
        return started_at

    # ------------------------------------------------------------------ changes

    def restart(self) -> Position:
        """Start a new cycle now (atomic replace: readers see the old or the new file)."""
        now = self.clock()
        self._write(now, exclusive=False)
        logger.info("data API cycle restarted at %s", iso(now))
        return position_at(now, started_at=now, interval=self.interval, total_batches=self.total_batches)

    def _ensure_started(self) -> None:
        if self.path.exists():
            state = self._read()
            if state.get("layout") == self.layout:
                logger.info(
                    "resuming the cycle started at %s from %s",
                    iso(state["cycle_started_at"]),
                    self.path,
                )
                return
            logger.warning(
                "the batch layout changed (%s -> %s): starting a new cycle",
                state.get("layout"),
                self.layout,
            )
            self._write(self.clock(), exclusive=False)
            return
        if self._write(self.clock(), exclusive=True):
            logger.info("started a new cycle in %s", self.path)

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads(self.path.read_text())
            float(state["cycle_started_at"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StateFileError(
                f"state file {self.path} is unreadable ({error}); delete it to start a new cycle"
            ) from error
        if not isinstance(state, dict):
            raise StateFileError(f"state file {self.path} does not hold a JSON object")
        state["cycle_started_at"] = float(state["cycle_started_at"])
        return state

    def _write(self, started_at: float, *, exclusive: bool) -> bool:
        """Write the state; with ``exclusive``, only if no other process wrote one first."""
        state = {
            "version": STATE_VERSION,
            "cycle_started_at": started_at,
            "cycle_started_at_iso": iso(started_at),
            "update_interval_seconds": self.interval,
            "layout": self.layout,
        }
        fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".cycle-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                try:
                    os.link(tmp, self.path)
                except FileExistsError:
                    return False
            else:
                os.replace(tmp, self.path)
            self._cached = None
            return True
        finally:
            tmp.unlink(missing_ok=True)
