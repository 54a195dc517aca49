"""Cost of the API's live input drift on /predict: the same API with it off and on, interleaved.

Trains and registers the champion as ``benchmarks/serve.py`` does, then serves it with one uvicorn
process (CPU 0) alternately with ``API_DRIFT_WINDOW=0`` (off) and with the default window and an
aggressive ``API_DRIFT_INTERVAL_SECONDS=2`` (on: every scored record joins the window, and drift is
recomputed every 2 s instead of 30), driving each with the same Locust ``Throughput`` load (CPU 1).
Rounds alternate so that a busy machine hurts both sides alike; prints the median of each side.

    .venv/bin/python -m benchmarks.drift_overhead [--rounds 3] [--run-time 15] [--users 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

import httpx

from benchmarks.serve import BIN, MODEL, UVICORN, local_store, pinned, run_locust, train_and_register
from readmission import supervisor
from readmission.config import DATA_CSV
from readmission.data_api.loading import read_raw_csv

REPO = Path(__file__).resolve().parents[1]

SIDES = {"live drift off": {"API_DRIFT_WINDOW": "0"}, "live drift on": {"API_DRIFT_INTERVAL_SECONDS": "2"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run-time", type=int, default=15)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()

    work, env = champion_store("bench-drift-")
    cmd = [str(BIN / "uvicorn"), "--app-dir", str(REPO / "fastapi"), "main:app", *UVICORN, "--host", "127.0.0.1"]

    results: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for round_number in range(1, args.rounds + 1):
        for side, overrides in SIDES.items():
            port = supervisor.free_port()
            url = f"http://127.0.0.1:{port}"
            print(f"round {round_number}: {side} ...", flush=True)
            with supervisor.running(
                pinned(0, [*cmd, "--port", str(port)]),
                ready=lambda u=url: httpx.get(u + "/ready", timeout=2).status_code == 200,
                what=side, timeout=300, env={**env, **overrides}, log_path=work / f"api-{port}.log",
            ):  # fmt: skip
                result = _measure(url, args.run_time, args.users, work)
                window = _window(url)
            results[side].append(result)
            print(
                f"  {result['rps']:.0f} req/s, p50 {result['p50']:.0f} ms, p99 {result['p99']:.0f} ms, window {window}"
            )

    print()
    print(f"{'side':18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   (median of {args.rounds} rounds)")
    medians = {}
    for side, runs in results.items():
        medians[side] = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99")}
        m = medians[side]
        print(f"{side:18} {m['rps']:9.1f} {m['p50']:8.1f} {m['p99']:8.1f}")
    off, on = medians["live drift off"], medians["live drift on"]
    spread = max(r["rps"] for r in results["live drift off"]) - min(r["rps"] for r in results["live drift off"])
    print(
        f"\nthroughput with live drift / without: {on['rps'] / off['rps']:.3f} "
        f"(round-to-round spread without it: {spread / off['rps']:.1%} of its median)"
    )
    shutil.rmtree(work, ignore_errors=True)


def _measure(url: str, run_time: int, users: int, work: Path, attempts: int = 3) -> dict[str, float]:
    """One Locust run; a run that recorded no request (a starved load generator) is tried again."""
    for attempt in range(1, attempts + 1):
        try:
            return run_locust(url, "api", run_time, users, work)
        except ValueError:  # Locust wrote N/A: no request finished
            print(f"  no request finished (attempt {attempt}); trying again", flush=True)
    raise RuntimeError(f"Locust recorded no request against {url} in {attempts} attempts")


def champion_store(prefix: str) -> tuple[Path, dict[str, str]]:
    """A throwaway MLflow store with the champion (and its drift reference); the servers' environment."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    tracking_uri, env = local_store(work)
    print("training and registering the model (with its drift reference) ...", flush=True)
    raw = read_raw_csv(DATA_CSV)
    train_and_register(raw, tracking_uri, work)
    log_champion_reference(raw, tracking_uri, work)
    return work, env


def log_champion_reference(raw, tracking_uri: str, work: Path) -> None:
    """Log the champion's drift reference (its training rows) when its training did not (idempotent)."""
    from mlflow import MlflowClient

    from readmission import drift, features, monitoring, split
    from readmission.config import Settings

    client = MlflowClient(tracking_uri)
    run_id = client.get_model_version_by_alias(MODEL, "champion").run_id
    if any(a.path == drift.REFERENCE_ARTIFACT for a in client.list_artifacts(run_id, "drift")):
        return
    settings = Settings(mlflow_tracking_uri=tracking_uri, model_name=MODEL, local_dir=work / "var")
    train = split.split(features.clean(raw).frame)["train"]
    monitoring.log_reference(run_id, train, settings)


def _window(url: str) -> str:
    """The API's live drift window size and whether its PSI gauges are set (a check that the side is real)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    size = next(
        (line.split()[-1] for line in text.splitlines() if line.startswith("readmission_input_drift_window")), "0"
    )
    return f"{float(size):.0f} records, PSI gauges {'set' if 'readmission_input_drift_psi{' in text else 'not set'}"


if __name__ == "__main__":
    main()
