"""Load test of the inference API: named user classes, genuine UCI records.

- ``Clinician``: the original project's user; thinks 1-3 s between calls and asks
  ``/predict``, ``/health`` and ``/model-info`` in the ratio 1:1:2.
- ``Service``: a hospital system scoring 100-1,000 records at a time through
  ``/predict/batch``, with a few seconds between batches.
- ``Throughput``: the benchmark driver (no think time, one record per request). It
  is only loaded when ``LOCUST_TARGET`` is set, so the web UI mixes clinicians and
  services: ``api`` (POST /predict), ``explain`` (POST /predict?explain=true), ``mlflow`` (POST
  /invocations) or ``noop`` (POST /noop).

Payloads are genuine UCI rows shaped as the data API serves them (schema.INPUT_COLUMNS,
null for missing): the first ``LOCUST_ROWS`` rows of ``LOCUST_DATA_CSV`` that did not end in
death or hospice (the model does not score those).

    locust -f locust/locustfile.py --host http://127.0.0.1:8000              # web UI, Clinician + Service
    locust -f locust/locustfile.py,locust/stepload.py Clinician --headless   # step load to the SLO
    LOCUST_TARGET=api locust -f locust/locustfile.py Throughput --headless -u 20 -t 20s

``LOCUST_BY_MODEL_VERSION=1`` names each answered request after the model version that answered it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task
from locust.contrib.fasthttp import FastResponse

from readmission import schema
from readmission.config import REPO_ROOT
from readmission.data_api.loading import read_raw_csv, to_records

TARGET = os.environ.get("LOCUST_TARGET")
ROWS = int(os.environ.get("LOCUST_ROWS", "2000"))
BY_MODEL_VERSION = os.environ.get("LOCUST_BY_MODEL_VERSION", "") not in ("", "0")
"""Count each answered prediction under the model version that answered it (``/predict [model 3]``), so
Locust's CSV shows when the answers moved to a new champion (the hot-swap test)."""
BATCH_RANGE = (100, 1000)


def _records() -> list[dict]:
    path = Path(os.environ.get("LOCUST_DATA_CSV", REPO_ROOT / "ec2_api" / "data" / "diabetic_data.csv.gz"))
    raw = read_raw_csv(path)
    # What a clinician scores: encounters that ended in death or hospice are outside the model (422).
    raw = raw[~raw["discharge_disposition_id"].isin(sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))]
    return [{name: row[name] for name in schema.INPUT_COLUMNS} for row in to_records(raw.head(ROWS))]


RECORDS = _records()


def _post(user: FastHttpUser, path: str, body: Any, name: str | None = None) -> None:
    """POST ``body``; anything but 200 is a failure with the status and the start of the answer."""
    with user.client.post(path, json=body, name=name or path, catch_response=True) as response:
        _expect_ok(response)
        if BY_MODEL_VERSION and response.status_code == 200:
            version = (response.json() or {}).get("model_version")
            response.request_meta["name"] = f"{name or path} [model {version}]"


def _get(user: FastHttpUser, path: str) -> None:
    with user.client.get(path, name=path, catch_response=True) as response:
        _expect_ok(response)


def _expect_ok(response: Any) -> None:
    assert isinstance(response, FastResponse)
    if response.status_code != 200:
        response.failure(f"{response.status_code}: {(response.text or '')[:200]}")


class Clinician(FastHttpUser):
    """A clinician at the ward's UI: one patient at a time, 1-3 s of thinking between calls."""

    weight = 10
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task(1)
    def predict(self) -> None:
        _post(self, "/predict", self.rng.choice(RECORDS))

    @task(1)
    def health(self) -> None:
        _get(self, "/health")

    @task(2)
    def model_info(self) -> None:
        _get(self, "/model-info")


class Service(FastHttpUser):
    """A hospital system scoring a ward list: 100-1,000 records per ``/predict/batch``."""

    weight = 1
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def predict_batch(self) -> None:
        size = self.rng.randint(*BATCH_RANGE)
        _post(self, "/predict/batch", {"records": self.rng.sample(RECORDS, min(size, len(RECORDS)))})


class Throughput(FastHttpUser):
    """The benchmark driver: one encounter per request, no think time (loaded when LOCUST_TARGET is set)."""

    abstract = TARGET is None

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def predict(self) -> None:
        record = self.rng.choice(RECORDS)
        if TARGET == "mlflow":
            _post(self, "/invocations", {"dataframe_records": [record]})
        elif TARGET == "noop":
            _post(self, "/noop", record)
        elif TARGET == "explain":
            _post(self, "/predict?explain=true", record, name="/predict?explain=true")
        else:
            _post(self, "/predict", record)
