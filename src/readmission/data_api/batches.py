"""The fixed, seeded shuffled order of the rows, cut into numbered, pre-serialised batches."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from readmission.data_api.errors import BatchNotFoundError
from readmission.data_api.loading import Record


def shuffled_order(total_rows: int, seed: int) -> np.ndarray:
    """Row positions in the one order every process derives from ``seed``."""
    return np.random.default_rng(seed).permutation(total_rows)


def batch_count(total_rows: int, batch_size: int) -> int:
    return math.ceil(total_rows / batch_size)


@dataclass(frozen=True)
class Batches:
    """Every batch's JSON body, serialised once at start-up (serving is a memory copy)."""

    batch_size: int
    shuffle_seed: int
    total_rows: int
    sizes: tuple[int, ...]
    bodies: tuple[bytes, ...]

    @property
    def total(self) -> int:
        return len(self.bodies)

    def check(self, number: int) -> None:
        if not 1 <= number <= self.total:
            raise BatchNotFoundError(number, self.total)

    def body(self, number: int) -> bytes:
        self.check(number)
        return self.bodies[number - 1]

    def layout(self) -> dict[str, int]:
        """What identifies the cut: a persisted cycle only applies to the same layout."""
        return {
            "total_rows": self.total_rows,
            "batch_size": self.batch_size,
            "shuffle_seed": self.shuffle_seed,
        }


def build_batches(records: Sequence[Record], *, batch_size: int, seed: int) -> Batches:
    """Batches 1..n of ``batch_size`` rows (the last one shorter) in the seeded order."""
    order = shuffled_order(len(records), seed)
    total = batch_count(len(records), batch_size)
    sizes: list[int] = []
    bodies: list[bytes] = []
    for index in range(total):
        rows = [records[i] for i in order[index * batch_size : (index + 1) * batch_size]]
        sizes.append(len(rows))
        bodies.append(
            orjson.dumps(
                {
                    "batch_number": index + 1,
                    "total_batches": total,
                    "batch_size": batch_size,
                    "data": rows,
                }
            )
        )
    return Batches(batch_size, seed, len(records), tuple(sizes), tuple(bodies))
