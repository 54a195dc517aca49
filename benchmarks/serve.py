"""Inference API vs `mlflow models serve` vs a no-op endpoint, same model, same load generator.

Trains and registers one model (the hist_gb family's champion, as training picks it) in a
throwaway local MLflow store, then, one server at a time (pinned to CPU 0 when
`taskset` exists), drives each with Locust `FastHttpUser` headless in a separate
process (CPU 1) and prints req/s, p50 and p99; then times a 10,000-record batch
through `/predict/batch` against the model called in-process.

    .venv/bin/python -m benchmarks.serve [--run-time 20] [--users 20]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from threadpoolctl import threadpool_limits

from readmission import features, schema, supervisor
from readmission.config import DATA_CSV
from readmission.data_api.loading import read_raw_csv, to_records

REPO = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent
MODEL = "bench-readmission"
MODEL_30D = "bench-readmission-30d"
UVICORN = ["--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def pinned(cpu: int, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") else cmd


def train_and_register(raw: pd.DataFrame, tracking_uri: str, work: Path) -> None:
    """The champion as the pipeline makes it: the real training code on a patient-grouped split."""
    from readmission import pipeline, registry, split
    from readmission.config import Settings

    settings = Settings(
        mlflow_tracking_uri=tracking_uri,
        model_name=MODEL,
        model_name_30d=MODEL_30D,
        local_dir=work / "var",
        train_candidates="hist_gb",
    )
    splits = split.split(features.clean(raw).frame)
    for target in features.TARGETS:  # both outcomes, as every pipeline run registers them
        result = pipeline.train_run(splits["train"], splits["validation"], settings=settings, target=target)
        registry.promote_if_better(result.version, splits["validation"], settings=settings.for_target(target))


def local_store(work: Path) -> tuple[str, dict[str, str]]:
    """A throwaway MLflow store under ``work`` and the environment of the servers that use it."""
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_DISABLE_TELEMETRY": "true",
        "MODEL_NAME": MODEL, "MODEL_NAME_30D": MODEL_30D, "LOCAL_DIR": str(work / "var"),
        "MODEL_CACHE_DIR": str(work / "cache"), "LOG_LEVEL": "WARNING",
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src"),
    }  # fmt: skip
    os.environ.update({k: v for k, v in env.items() if k.startswith("MLFLOW")})
    return tracking_uri, env


def run_locust(url: str, target: str, run_time: int, users: int, workdir: Path) -> dict[str, float]:
    prefix = workdir / f"locust-{target}"
    cmd = [
        str(BIN / "locust"), "-f", str(REPO / "locust" / "locustfile.py"), "--headless", "--host", url,
        "-u", str(users), "-r", str(users), "--run-time", f"{run_time}s", "--csv", str(prefix),
        "--only-summary", "--loglevel", "WARNING", "Throughput",
    ]  # fmt: skip
    env = {**os.environ, "LOCUST_TARGET": target, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(pinned(1, cmd), env=env, check=False, capture_output=True, timeout=run_time + 120)
    with open(f"{prefix}_stats.csv") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "rps": float(row["Requests/s"]),
        "p50": float(row["50%"]),
        "p99": float(row["99%"]),
        "requests": float(row["Request Count"]),
        "failures": float(row["Failure Count"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-time", type=int, default=20)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    tracking_uri, env = local_store(work)
    raw = read_raw_csv(DATA_CSV)
    print("training and registering the model ...", flush=True)
    train_and_register(raw, tracking_uri, work)

    servers = {
        "inference API (/predict)": (
            "api",
            [str(BIN / "uvicorn"), "--app-dir", str(REPO / "fastapi"), "main:app", *UVICORN],
            "/ready",
        ),
        "mlflow models serve (/invocations)": (
            "mlflow",
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/{MODEL}@champion",
                "--env-manager",
                "local",
                "--workers",
                "1",
                "-h",
                "127.0.0.1",
            ],
            "/ping",
        ),
        "no-op endpoint (/noop)": (
            "noop",
            [str(BIN / "uvicorn"), "--app-dir", str(REPO / "benchmarks"), "noop_app:app", *UVICORN],
            "/docs",
        ),
    }
    results: dict[str, dict[str, float]] = {}
    batch: dict[str, float] = {}
    for label, (target, cmd, ready_path) in servers.items():
        port = supervisor.free_port()
        full = [*cmd, "--port", str(port)] if target != "mlflow" else [*cmd, "-p", str(port)]
        if target != "mlflow":
            full += ["--host", "127.0.0.1"]
        url = f"http://127.0.0.1:{port}"
        print(f"load on {label} ...", flush=True)
        with supervisor.running(
            pinned(0, full), ready=lambda u=url, p=ready_path: httpx.get(u + p, timeout=2).status_code == 200,
            what=label, timeout=300, env=env, log_path=work / f"{target}.log",
        ):  # fmt: skip
            results[label] = run_locust(url, target, args.run_time, args.users, work)
            if target == "api":
                results["inference API (/predict?explain=true)"] = run_locust(
                    url, "explain", args.run_time, args.users, work
                )
                batch = batch_figures(url, raw, tracking_uri)

    print()
    print(f"{'server':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'failures':>8}")
    for label, r in results.items():
        print(f"{label:38} {r['rps']:9.1f} {r['p50']:8.1f} {r['p99']:8.1f} {r['requests']:9.0f} {r['failures']:8.0f}")
    api, mlf, noop = (results[k] for k in servers)
    explain = results["inference API (/predict?explain=true)"]
    print()
    print(f"explain vs mlflow serve    : {explain['rps'] / max(mlf['rps'], 1e-9):6.1f}x   (goal >= 5x)")
    print(f"throughput vs mlflow serve : {api['rps'] / max(mlf['rps'], 1e-9):6.1f}x   (goal >= 15x)")
    print(f"p99 vs mlflow serve        : {api['p99'] / max(mlf['p99'], 1e-9):6.3f}    (goal <= 0.1)")
    print(f"throughput vs no-op        : {api['rps'] / max(noop['rps'], 1e-9):6.2f}    (goal >= 0.8, both outcomes)")
    http = batch["http_rows_s"]
    print(
        f"batch of 10,000 via HTTP   : {http:9.0f} rows/s (both outcomes); in-process model (any): "
        f"{batch['inproc_rows_s']:9.0f} rows/s; ratio {http / batch['inproc_rows_s']:.2f} (goal >= 0.5)"
    )
    print(
        f"  in-process, one thread as the server: {batch['inproc_one_thread_rows_s']:9.0f} rows/s "
        f"(ratio {http / batch['inproc_one_thread_rows_s']:.2f}); both outcomes' models, one thread: "
        f"{batch['inproc_both_rows_s']:9.0f} rows/s (ratio {http / batch['inproc_both_rows_s']:.2f})"
    )
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    shutil.rmtree(work, ignore_errors=True)


def batch_figures(url: str, raw: pd.DataFrame, tracking_uri: str, repeats: int = 3) -> dict[str, float]:
    from readmission.registry import load_model

    covered = raw[~raw["discharge_disposition_id"].isin(schema.NOT_READMITTABLE_DISCHARGE_IDS)]
    sample = covered.sample(10_000, random_state=3)  # death/hospice discharges are a 422 by design
    records = [{c: r[c] for c in schema.INPUT_COLUMNS} for r in to_records(sample)]
    import orjson

    body = orjson.dumps({"records": records})  # what a client sends; its own encoding is not server time
    http_times = []
    with httpx.Client(base_url=url, timeout=300) as client:
        for _ in range(repeats):
            start = time.perf_counter()
            answer = client.post("/predict/batch", content=body, headers={"content-type": "application/json"})
            http_times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text[:500]
            assert answer.json()["scored"] == len(records)
    pipeline = load_model(MODEL, "champion")
    pipeline_30d = load_model(MODEL_30D, "champion")
    frame = pd.DataFrame(records, columns=list(schema.INPUT_COLUMNS))

    def inproc(models: list[Any]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for model in models:
                model.predict_proba(frame)
            times.append(time.perf_counter() - start)
        return len(records) / statistics.median(times)

    with threadpool_limits(limits=1):  # as the server runs: one CPU (taskset), OMP_NUM_THREADS=1
        one_thread = inproc([pipeline])
        both_outcomes = inproc([pipeline, pipeline_30d])
    return {
        "http_rows_s": len(records) / statistics.median(http_times),
        "inproc_rows_s": inproc([pipeline]),
        "inproc_one_thread_rows_s": one_thread,
        "inproc_both_rows_s": both_outcomes,
    }


if __name__ == "__main__":
    main()
