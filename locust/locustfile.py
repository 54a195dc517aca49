"""Load test of the inference API (and, for benchmarks/serve.py, of mlflow-serve and a no-op endpoint).

Payloads are genuine UCI rows shaped as the data API serves them (schema.INPUT_COLUMNS,
null for missing). LOCUST_TARGET picks the request: ``api`` (POST /predict, default),
``mlflow`` (POST /invocations, dataframe_records) or ``noop`` (POST /noop).

    locust -f locust/locustfile.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import math
import os
import random

import pandas as pd
from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastResponse

from readmission import schema
from readmission.config import REPO_ROOT

TARGET = os.environ.get("LOCUST_TARGET", "api")
ROWS = int(os.environ.get("LOCUST_ROWS", "2000"))


def _records() -> list[dict]:
    frame = pd.read_csv(
        os.environ.get("LOCUST_DATA_CSV", REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"),
        keep_default_na=False,
        na_values=[schema.MISSING_MARKER],
        dtype={"payer_code": object, "medical_specialty": object},
        nrows=ROWS,
    )
    out = []
    for row in frame[list(schema.INPUT_COLUMNS)].to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return out


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
