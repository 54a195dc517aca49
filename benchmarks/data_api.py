"""Serving speed of the batch data API over HTTP, with the production server (gunicorn).

Starts `readmission data-api` on a free loopback port, fetches every batch
several times and prints ms per batch (p50 / max) and rows/s:

    .venv/bin/python -m benchmarks.data_api [--rounds 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from readmission import supervisor

REPO_ROOT = Path(__file__).resolve().parents[1]


def measure(
    client: httpx.Client, sizes: list[int], rounds: int, fetch: Callable[[httpx.Client, int], object]
) -> tuple[list[float], int, float]:
    timings: list[float] = []
    rows = 0
    started = time.perf_counter()
    for _ in range(rounds):
        for number, size in enumerate(sizes, start=1):
            t0 = time.perf_counter()
            fetch(client, number)
            timings.append(time.perf_counter() - t0)
            rows += size
    return timings, rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="times every batch is fetched per mode")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-data-api-") as tmp:
        workdir = Path(tmp)
        port = supervisor.free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "ENVIRONMENT": "local",
            "LOCAL_DIR": str(workdir),
            "DATA_API_HOST": "127.0.0.1",
            "DATA_API_PORT": str(port),
            "DATA_API_STATE_DIR": str(workdir / "state"),
            "DATA_API_WORKERS": str(args.workers),
            "LOG_LEVEL": "WARNING",
        }
        t0 = time.perf_counter()
        with supervisor.running(
            [str(supervisor.VENV_BIN / "readmission"), "data-api"],
            ready=supervisor.http_ready(f"{url}/health"),
            what="data API",
            timeout=120,
            env=env,
            log_path=workdir / "server.log",
        ):
            startup = time.perf_counter() - t0
            metadata = httpx.get(f"{url}/batches").json()
            sizes = [batch["rows"] for batch in metadata["batches"]]

            def raw(client: httpx.Client, number: int) -> bytes:
                response = client.get("/get_data", params={"batch": number}, headers={"Accept-Encoding": "identity"})
                return response.raise_for_status().content

            def gzipped(client: httpx.Client, number: int) -> bytes:
                response = client.get("/get_data", params={"batch": number}, headers={"Accept-Encoding": "gzip"})
                return response.raise_for_status().content  # httpx decompresses

            def parsed(client: httpx.Client, number: int) -> object:
                return json.loads(raw(client, number))

            modes = [
                ("identity bytes", raw),
                ("gzip + decompress", gzipped),
                ("identity + json.loads", parsed),
            ]
            with httpx.Client(base_url=url, timeout=60) as client:
                body_mb = 0.0
                for number in range(1, len(sizes) + 1):  # warm-up: first gzip of each batch, connections
                    gzipped(client, number)
                    body_mb += len(raw(client, number)) / 1e6
                results = [(name, *measure(client, sizes, args.rounds, fetch)) for name, fetch in modes]

    print(
        f"data API: {metadata['total_rows']:,} rows in {len(sizes)} batches of {metadata['batch_size']:,} "
        f"({body_mb:.0f} MB of JSON), gunicorn {args.workers} workers, {args.rounds} rounds; "
        f"ready {startup:.1f} s after start"
    )
    header = f"{'mode':<24} {'requests':>8} {'p50 ms/batch':>13} {'max ms/batch':>13} {'rows/s':>12}"
    print(header)
    print("-" * len(header))
    for name, timings, rows, elapsed in results:
        full = [t for t, size in zip(timings, sizes * args.rounds, strict=True) if size == metadata["batch_size"]]
        print(
            f"{name:<24} {len(timings):>8} {statistics.median(full) * 1000:>13.1f} "
            f"{max(full) * 1000:>13.1f} {rows / elapsed:>12,.0f}"
        )
    print("(ms/batch over the full 15,000-row batches; rows/s over every request)")


if __name__ == "__main__":
    main()
