"""Capacity of one inference API replica (one uvicorn process) at the SLO, in clinician users and req/s.

Trains and registers the champion as ``benchmarks/serve.py`` does, serves it with one uvicorn
process (pinned to CPU 0 when ``taskset`` exists) and runs the step load of ``readmission
loadtest`` (Locust ``Clinician`` users, 1-3 s think time, /predict:/health:/model-info = 1:1:2)
from CPU 1 until p95 >= 100 ms or a request fails. Prints every step and the last one that held,
against the original project's 116 req/s per replica (goal: >= 10x).

    .venv/bin/python -m benchmarks.capacity [--step-users 500] [--step-seconds 20] [--max-users 12000] [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import httpx

from benchmarks.drift_overhead import champion_store
from benchmarks.serve import BIN, UVICORN, pinned
from readmission import supervisor
from readmission.loadtest import StepLoad, run_step_load

REPO = Path(__file__).resolve().parents[1]

ORIGINAL_RPS = 116.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-users", type=int, default=500)
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--max-users", type=int, default=12_000)
    parser.add_argument("--slo-p95-ms", type=float, default=100)
    parser.add_argument("--out", type=Path, default=None, help="keep the HTML/CSV/PNG here")
    args = parser.parse_args()

    work, env = champion_store("bench-capacity-")  # the API runs as deployed: live drift on

    port = supervisor.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(BIN / "uvicorn"), "--app-dir", str(REPO / "fastapi"), "main:app", *UVICORN]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--backlog", "16384"]
    plan = StepLoad(args.step_users, args.step_seconds, args.max_users, args.slo_p95_ms, ("Clinician",))
    out = args.out or work / "loadtest"
    print(f"step load: +{plan.step_users} clinicians every {plan.step_seconds:.0f} s ...", flush=True)
    with supervisor.running(
        pinned(0, cmd), ready=lambda: httpx.get(url + "/ready", timeout=2).status_code == 200,
        what="inference API", timeout=300, env=env, log_path=work / "api.log",
    ):  # fmt: skip
        result = run_step_load(url, out, plan, cpu=1 if shutil.which("taskset") else None)

    print()
    print(f"{'users':>7} {'req/s':>9} {'p95 ms':>8} {'failures':>9} {'locust CPU %':>13}  SLO")
    for step in result.report["steps"]:
        print(
            f"{step['users']:7d} {step['rps']:9.1f} {step['p95_ms']:8.0f} {step['failures']:9d} "
            f"{step['cpu_percent']:13.0f}  {'held' if step['held'] else 'BROKEN'}"
        )
    capacity = result.capacity
    print()
    print(result.summary())
    if capacity:
        print(
            f"one replica at the SLO: {capacity['users']} clinician users, {capacity['rps']:.0f} req/s "
            f"= {capacity['rps'] / ORIGINAL_RPS:.1f}x the original {ORIGINAL_RPS:.0f} req/s (goal >= 10x)"
        )
    if any(step["cpu_percent"] >= 90 for step in result.report["steps"]):
        print("note: Locust itself ran above 90% CPU in some step: the figure is a lower bound for the API")
    if args.out:
        print(f"report {result.html}, plot {result.plot}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
