"""A step-load shape: more users every step until the SLO breaks; the capacity is the last step that held.

Load it next to the user classes: ``locust -f locust/locustfile.py,locust/stepload.py Clinician``
(``readmission loadtest`` does). Each step runs ``LOCUST_STEP_SECONDS`` with ``LOCUST_STEP_USERS``
more users than the last; the first half of a step is ramp-up (spawning, connecting) and is not
judged. A step holds the
SLO when its p95 is below ``LOCUST_SLO_P95_MS`` and it had no failure. The run stops at the first
step that breaks it (or after ``LOCUST_MAX_USERS``) and writes every step and the capacity as JSON
to ``LOCUST_CAPACITY_FILE``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from locust import LoadTestShape
from locust.stats import calculate_response_time_percentile

logger = logging.getLogger("stepload")


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class StepLoadShape(LoadTestShape):
    """Users rise by a fixed step until a step misses the SLO (p95 and failures)."""

    use_common_options = False

    def __init__(self) -> None:
        super().__init__()
        self.step_users = int(_env("LOCUST_STEP_USERS", 100))
        self.step_seconds = _env("LOCUST_STEP_SECONDS", 20)
        self.max_users = int(_env("LOCUST_MAX_USERS", 5000))
        self.slo_p95_ms = _env("LOCUST_SLO_P95_MS", 100)
        self.ramp_seconds = self.step_seconds / 2
        self.report_path = os.environ.get("LOCUST_CAPACITY_FILE")
        self.steps: list[dict[str, Any]] = []
        self._step = -1
        self._mark: tuple[float, dict[int, int], int, int] | None = None
        self._done = False

    # ------------------------------------------------------------------ locust calls this every second

    def tick(self) -> tuple[int, float] | None:
        if self._done:
            return None
        run_time = self.get_run_time()
        step = int(run_time // self.step_seconds)
        if step != self._step:
            if self._step >= 0 and not self._judge(run_time):
                return self._finish()
            users = (step + 1) * self.step_users
            if users > self.max_users:
                return self._finish(f"reached LOCUST_MAX_USERS={self.max_users} without breaking the SLO")
            self._step, self._mark = step, None
        if self._mark is None and run_time - self._step * self.step_seconds >= self.ramp_seconds:
            self._mark = self._snapshot(run_time)
        users = (self._step + 1) * self.step_users
        return users, max(self.step_users / max(self.ramp_seconds / 2, 1.0), 1.0)

    # ------------------------------------------------------------------ one step's figures

    def _snapshot(self, now: float) -> tuple[float, dict[int, int], int, int]:
        total = self.runner.stats.total
        return now, dict(total.response_times), total.num_requests, total.num_failures

    def _judge(self, now: float) -> bool:
        """Record the finished step's figures; False when it broke the SLO."""
        if self._mark is None:
            return True
        start, times, requests, failures = self._mark
        end_times, end_requests, end_failures = self._snapshot(now)[1:]
        count = end_requests - requests
        window = {ms: n - times.get(ms, 0) for ms, n in end_times.items() if n - times.get(ms, 0) > 0}
        p95 = calculate_response_time_percentile(window, count, 0.95) if count else 0.0
        failed = end_failures - failures
        held = count > 0 and p95 < self.slo_p95_ms and failed == 0
        figures = {
            "users": self.runner.user_count,
            "rps": round(count / max(now - start, 1e-9), 1),
            "p95_ms": float(p95),
            "requests": count,
            "failures": failed,
            "cpu_percent": round(float(getattr(self.runner, "current_cpu_usage", 0.0)), 1),
            "held": held,
        }
        self.steps.append(figures)
        logger.info("step %d: %s", len(self.steps), figures)
        return held

    def _finish(self, reason: str | None = None) -> None:
        self._done = True
        held = [s for s in self.steps if s["held"]]
        broken = next((s for s in self.steps if not s["held"]), None)
        if reason is None and broken is not None:
            reason = (
                f"SLO broken at {broken['users']} users: p95 {broken['p95_ms']:.0f} ms "
                f"(limit {self.slo_p95_ms:.0f}), {broken['failures']} failures"
            )
        report = {
            "slo": {"p95_ms": self.slo_p95_ms, "failures": 0},
            "step_users": self.step_users,
            "step_seconds": self.step_seconds,
            "steps": self.steps,
            "capacity": held[-1] if held else None,
            "broken_at": broken,
            "reason": reason,
        }
        logger.info("capacity: %s (%s)", report["capacity"], reason)
        if self.report_path:
            Path(self.report_path).write_text(json.dumps(report, indent=2))
        return None
