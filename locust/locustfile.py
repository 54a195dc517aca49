"""Load test of the inference API (and, for benchmarks/serve.py, of mlflow-serve and a no-op endpoint).

Payloads are genuine UCI rows shaped as the data API serves them (schema.INPUT_COLUMNS,
null for missing). LOCUST_TARGET picks the request: ``api`` (POST /predict, default),
``mlflow`` (POST /invocations, dataframe_records) or ``noop`` (POST /noop).

    locust -f locust/locustfile.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastResponse

from readmission import schema
from readmission.config import REPO_ROOT
from readmission.data_api.loading import read_raw_csv, to_records

TARGET = os.environ.get("LOCUST_TARGET", "api")
ROWS = int(os.environ.get("LOCUST_ROWS", "2000"))


def _records() -> list[dict]:
    path = Path(os.environ.get("LOCUST_DATA_CSV", REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"))
    rows = to_records(read_raw_csv(path).head(ROWS))
    return [{name: row[name] for name in schema.INPUT_COLUMNS} for row in rows]


RECORDS = _records()


class ApiUser(FastHttpUser):
    """One client sending one encounter at a time, with no think time."""

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def predict(self) -> None:
        record = self.rng.choice(RECORDS)
        if TARGET == "mlflow":
            path, body = "/invocations", {"dataframe_records": [record]}
        elif TARGET == "noop":
            path, body = "/noop", record
        else:
            path, body = "/predict", record
        with self.client.post(path, json=body, name=path, catch_response=True) as response:
            assert isinstance(response, FastResponse)
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")
