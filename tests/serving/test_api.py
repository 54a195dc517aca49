"""The inference API against a real MLflow server and a real registered model."""

from __future__ import annotations

import logging
import re
import signal
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from readmission import loadtest, schema, validation
from readmission.data_api.loading import to_records
from readmission.serving.records import EXAMPLE_RECORD, patient_record_model
from tests.support import services
from tests.support.serving import ADMIN_TOKEN, UvicornThread, register_champion, serving_settings

pytestmark = pytest.mark.integration


def test_predictions_equal_the_mlflow_model_on_genuine_rows(client, serving_champion, genuine_records):
    import mlflow.pyfunc

    mlflow.set_tracking_uri(serving_champion.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{serving_champion.name}@champion")
    frame = pd.DataFrame(genuine_records, columns=list(schema.INPUT_COLUMNS))
    expected = np.asarray(pyfunc.predict(frame))[:, 1]

    manager = client.app.state.manager
    threshold = manager.current.threshold
    assert manager.current.predictor.kind.startswith("compiled:")
    got = np.array([manager.current.predictor.predict_record(r) for r in genuine_records])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)

    for record, want in zip(genuine_records[:100], expected[:100], strict=True):
        answer = client.post("/predict", json=record)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["readmission_risk"] == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert body["prediction"] == int(want >= threshold)
        assert body["risk_band"] in ("low", "medium", "high")
        assert (body["model_name"], body["model_version"], body["model_alias"]) == (
            serving_champion.name,
            serving_champion.version,
            "champion",
        )

    batch = client.post("/predict/batch", json={"records": genuine_records})
    assert batch.status_code == 200, batch.text
    risks = [p["readmission_risk"] for p in batch.json()["predictions"]]
    np.testing.assert_allclose(risks, expected, rtol=1e-9, atol=1e-12)


def test_a_raw_row_as_the_data_api_serves_it_is_valid(client, genuine_raw):
    row = to_records(genuine_raw.iloc[[3]])[0]
    assert "readmitted" in row
    answer = client.post("/predict", json=row)
    assert answer.status_code == 200, answer.text
    minimal = {k: v for k, v in EXAMPLE_RECORD.items() if k not in schema.IDENTIFIER_COLUMNS}
    minimal.update(race=None, weight=None, diag_3=None, medical_specialty="Neverseen")
    assert client.post("/predict", json=minimal).status_code == 200


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"age": "[10-25)"}, 422, "age"),
        ({"num_medications": -1}, 422, "num_medications must be >= 0, got -1"),
        ({"time_in_hospital": "3"}, 422, "time_in_hospital must be an integer, got '3'"),
        ({"diag_1": "42X"}, 422, "diag_1 '42X' is not an ICD-9-CM code (such as 428"),
        ({"admission_type_id": 99}, 422, "admission_type_id"),
        ({"insulin": "Sometimes"}, 422, "insulin"),
        ({"gender": None}, 422, "gender"),
        ({"number_inpatient": True}, 422, "number_inpatient"),
    ],
)
def test_bad_records_get_precise_4xx(client, change, status, fragment):
    answer = client.post("/predict", json=EXAMPLE_RECORD | change)
    assert answer.status_code == status, answer.text
    assert any(fragment in message for message in answer.json()["errors"]), answer.json()


def test_missing_fields_invalid_json_and_oversized_batches(client, settings):
    record = dict(EXAMPLE_RECORD)
    del record["num_lab_procedures"]
    answer = client.post("/predict", json=record)
    assert answer.status_code == 422
    assert "num_lab_procedures is missing" in answer.json()["errors"]

    bad_json = client.post("/predict", content=b'{"age": ', headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert "Invalid JSON" in bad_json.json()["detail"]
    truncated = client.post("/predict/batch", content=b"[1,", headers={"content-type": "application/json"})
    assert truncated.status_code == 400
    assert client.post("/predict/batch", json=[EXAMPLE_RECORD]).status_code == 422

    too_many = client.post("/predict/batch", json={"records": [EXAMPLE_RECORD] * (settings.max_batch_records + 1)})
    assert too_many.status_code == 413
    assert "MAX_BATCH_RECORDS" in too_many.json()["detail"]


def test_batch_reports_invalid_records_by_index_and_scores_the_rest(client):
    records = [EXAMPLE_RECORD, EXAMPLE_RECORD | {"num_procedures": -2}, EXAMPLE_RECORD, {"age": "[10-20)"}]
    answer = client.post("/predict/batch", json={"records": records})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["count"], body["scored"]) == (4, 2)
    assert [e["index"] for e in body["errors"]] == [1, 3]
    assert any("num_procedures" in m for m in body["errors"][0]["errors"])
    assert body["predictions"][1] is None
    assert body["predictions"][3] is None
    assert body["predictions"][0] == body["predictions"][2]


def test_health_ready_model_info_and_metrics(client, serving_champion):
    from mlflow.models import get_model_info

    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json()["ready"] is True
    info = client.get("/model-info").json()
    assert info["version"] == serving_champion.version
    logged = get_model_info(f"models:/{serving_champion.name}/{serving_champion.version}").metadata or {}
    assert info["threshold"] == pytest.approx(float(logged["threshold"]))
    assert 0 < info["threshold"] < 1
    assert info["data_version"] == logged["data_version"]
    assert info["metrics"] == logged["metrics"]
    assert info["metrics"]["val_roc_auc"] > 0.55
    client.post("/predict", json=EXAMPLE_RECORD)
    client.post("/predict", json=EXAMPLE_RECORD | {"age": "x"})
    client.post("/predict/batch", json={"records": [EXAMPLE_RECORD] * 3})
    text = client.get("/metrics").text
    for needle in (
        'readmission_http_requests_total{endpoint="/predict",method="POST",status="200"}',
        'readmission_http_requests_total{endpoint="/predict",method="POST",status="422"}',
        'readmission_http_request_duration_seconds_bucket{endpoint="/predict"',
        "readmission_predictions_total{outcome=",
        "readmission_predicted_risk_ratio_bucket",
        f'readmission_model_info{{alias="champion",name="{serving_champion.name}",source="mlflow",'
        f'version="{serving_champion.version}"}} 1.0',
        'readmission_model_reloads_total{result="success"}',
        "readmission_batch_records_bucket",
        "readmission_process_cpu_seconds_total",
        "readmission_process_resident_memory_bytes",
    ):
        assert needle in text, needle


def test_reload_needs_the_admin_token(client, serving_champion):
    assert client.post("/reload-model").status_code == 401
    assert client.post("/reload-model", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.post("/reload-model", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {k: body[k] for k in ("old_version", "new_version", "changed")} == {
        "old_version": serving_champion.version,
        "new_version": serving_champion.version,
        "changed": False,
    }
    assert set(body["outcomes"]) == {"within_30_days"}


@pytest.mark.parametrize("discharge", sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))
def test_death_and_hospice_discharges_get_a_422_that_says_why(client, discharge):
    answer = client.post("/predict", json=EXAMPLE_RECORD | {"discharge_disposition_id": discharge})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "Encounter not covered by the models"
    kind = "death" if discharge in schema.DEATH_DISCHARGE_IDS else "hospice"
    assert f"discharge_disposition_id {discharge}" in answer.json()["errors"][0]
    assert f"{kind} discharge" in answer.json()["errors"][0]
    records = [EXAMPLE_RECORD, EXAMPLE_RECORD | {"discharge_disposition_id": discharge}, EXAMPLE_RECORD]
    batch = client.post("/predict/batch", json={"records": records}).json()
    assert (batch["count"], batch["scored"]) == (3, 2)
    assert batch["predictions"][1] is None
    assert batch["predictions"][0] == batch["predictions"][2]
    assert batch["errors"] == [{"index": 1, "errors": answer.json()["errors"]}]


def test_request_schema_matches_schema_py_and_the_model_signature(client, serving_champion):
    from mlflow.models import get_model_info

    model = patient_record_model()
    assert tuple(model.model_fields) == schema.INPUT_COLUMNS
    openapi = client.get("/openapi.json").json()
    properties = openapi["components"]["schemas"]["PatientRecord"]["properties"]
    for column in schema.COLUMNS:
        if column.kind is schema.Kind.TARGET:
            assert column.name not in properties
            continue
        prop = properties[column.name]
        variants = prop.get("anyOf", [prop])
        assert ({"type": "null"} in variants) == (column.nullable or column.kind is schema.Kind.IDENTIFIER)
        if column.levels:
            assert variants[0]["enum"] == list(column.levels)
        if column.kind is schema.Kind.CODE:
            not_covered = schema.NOT_READMITTABLE_DISCHARGE_IDS if column.name == "discharge_disposition_id" else set()
            assert set(variants[0]["enum"]) == schema.allowed_codes(column.name) - not_covered
        if column.kind is schema.Kind.COUNT:
            assert (variants[0]["minimum"], variants[0]["maximum"]) == (column.minimum, column.maximum)
        if column.kind is schema.Kind.ICD9:
            assert variants[0]["pattern"] == validation.ICD9_PATTERN.pattern
    required = set(openapi["components"]["schemas"]["PatientRecord"].get("required", []))

    info = get_model_info(f"models:/{serving_champion.name}@champion")
    if info.signature is not None:
        signature = {spec.name: spec for spec in info.signature.inputs.inputs}
        assert set(signature) <= set(schema.INPUT_COLUMNS)
        for name, spec in signature.items():
            integer = schema.BY_NAME[name].is_integer
            assert getattr(spec.type, "name", str(spec.type)) in (("long", "integer") if integer else ("string",)), name
            if not spec.required:
                assert name not in required
    assert required == {c.name for c in schema.COLUMNS if c.kind not in (schema.Kind.TARGET, schema.Kind.IDENTIFIER)
                        and not c.nullable}  # fmt: skip


def test_startup_without_mlflow_then_with_a_cache(tmp_path, settings, serving_champion, caplog):
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    password = "hunter2-in-the-url"
    unreachable = f"http://reader:{password}@127.0.0.1:{services.free_port()}"
    down = serving_settings(tmp_path / "down", unreachable, model_name=serving_champion.name)
    app = create_app(down)
    with caplog.at_level(logging.WARNING), TestClient(app) as c:
        deadline = time.monotonic() + 60
        while app.state.manager.failures == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        answers = [ready.json()["detail"]]
        for answer in (c.post("/predict", json=EXAMPLE_RECORD), c.get("/model-info"),
                       c.post("/predict/batch", json={"records": [EXAMPLE_RECORD]})):  # fmt: skip
            assert answer.status_code == 503
            answers.append(answer.json()["detail"])
        assert c.get("/health").status_code == 200
    for detail in answers:  # a generic message with an error id; the URL and the exception only in the log
        assert "No model is loaded yet" in detail
        for leak in (password, "127.0.0.1", "Error"):
            assert leak not in detail, detail
        error_id = re.search(r"error id ([0-9a-f]{12})", detail)
        assert error_id, detail
        assert any(error_id.group(1) in r.getMessage() and "127.0.0.1" in r.getMessage() for r in caplog.records)

    # a first run with MLflow up fills the cache; a restart with MLflow down serves from it
    with TestClient(create_app(settings)) as c:
        assert c.app.state.manager.wait_until_loaded(60)
        first = c.post("/predict", json=EXAMPLE_RECORD).json()
    cached = serving_settings(
        tmp_path / "down2", unreachable, model_name=serving_champion.name, model_cache_dir=settings.model_cache_dir
    )
    app = create_app(cached)
    with TestClient(app) as c:
        assert c.get("/ready").json()["ready"] is True
        again = c.post("/predict", json=EXAMPLE_RECORD).json()
        assert again["readmission_risk"] == first["readmission_risk"]
        assert c.get("/model-info").json()["source"] == "cache"


def test_the_champion_moves_while_locust_drives_predict_with_no_failed_request(
    tmp_path, mlflow_server, second_pipeline
):
    """The alias moves (as ``promote`` moves it) while 4 Locust users post /predict without pause: the poller
    swaps the model in, no request fails, and the answers move from v1 to v2 for good. Locust is stopped
    (SIGTERM) a few seconds after the swap, or stops by itself after 120 s."""
    from mlflow import MlflowClient

    from readmission.serving import create_app

    name = "serving-swap-model"
    v1 = register_champion(mlflow_server.tracking_uri, name, second_pipeline, threshold=0.5)
    v2 = register_champion(mlflow_server.tracking_uri, name, second_pipeline, threshold=0.5, alias="challenger")
    app = create_app(serving_settings(tmp_path, mlflow_server.tracking_uri, model_name=name, model_poll_seconds=1))
    out = tmp_path / "locust"
    plan = loadtest.ConstantLoad(users=4, seconds=120, by_model_version=True)
    with UvicornThread(app) as server:
        manager = app.state.manager
        assert manager.wait_until_loaded(60)
        assert manager.current.version == v1
        with loadtest.constant_load(server.url, out, plan) as locust:
            running = lambda: locust.poll() is None  # noqa: E731
            _wait_for(lambda: _predictions(server.url) >= 50 or not running())  # Locust is posting
            MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(name, "champion", v2)
            _wait_for(lambda: manager.current.version == v2 or not running())
            swapped, before = time.time(), _predictions(server.url)
            assert manager.current.version == v2, "the poller swapped the new champion in while Locust ran"
            _wait_for(lambda: (_predictions(server.url) >= before + 200 and time.time() > swapped + 6) or not running())
            assert running(), "Locust still posting after the swap"
            locust.send_signal(signal.SIGTERM)  # Locust writes its statistics and exits 0
        metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    pattern = r'^readmission_http_requests_total\{endpoint="/predict",method="POST",status="(\d+)"\}'
    statuses = set(re.findall(pattern, metrics, flags=re.MULTILINE))
    assert statuses == {"200"}, "the API answered every /predict with 200 (its own count, to the last request)"
    stats = loadtest.read_stats(out)
    assert stats["Aggregated"]["Failure Count"] == "0", (out / "locust.log").read_text()[-2000:]
    answered = {key: int(row["Request Count"]) for key, row in stats.items() if key != "Aggregated"}
    assert set(answered) == {f"/predict [model {v1}]", f"/predict [model {v2}]"}
    assert min(answered.values()) > 0, answered
    # After the swap (and the requests then in flight), every answer came from v2 to the end of the run.
    history = loadtest.read_history(out)
    old = [int(row["Total Request Count"]) for row in history
           if row["Name"] == f"/predict [model {v1}]" and int(row["Timestamp"]) >= swapped + 2]  # fmt: skip
    new = [int(row["Total Request Count"]) for row in history
           if row["Name"] == f"/predict [model {v2}]" and int(row["Timestamp"]) >= swapped + 2]  # fmt: skip
    assert len(old) >= 2, "Locust's history covers the seconds after the swap"
    assert old[0] == old[-1] == answered[f"/predict [model {v1}]"]
    assert new[-1] > new[0], "v2 kept answering after the swap"


def _predictions(url: str) -> float:
    """How many /predict requests the API has answered (its own Prometheus counter)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found = re.findall(r'^readmission_http_requests_total\{endpoint="/predict",method="POST",status="200"\} (\S+)$',
                       text, flags=re.MULTILINE)  # fmt: skip
    return float(found[0]) if found else 0.0


def _wait_for(condition, deadline_seconds: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
