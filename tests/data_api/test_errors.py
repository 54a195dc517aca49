"""Every bad input gets a precise JSON error, never a 500 or an HTML page."""

from __future__ import annotations

import httpx
import pytest

from tests.support import services

pytestmark = [pytest.mark.integration]


def assert_json_error(response: httpx.Response, status: int, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert body["error"]
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


@pytest.mark.parametrize("batch", ["0", "8", "-1", "99999999999999999999999"])
def test_batch_out_of_range_is_404(data_api: services.DataApi, batch: str) -> None:
    response = httpx.get(f"{data_api.url}/get_data", params={"batch": batch})
    body = assert_json_error(response, 404, f"batch {int(batch)} does not exist", "1 to 7")
    assert body["error"] == "batch_not_found"


@pytest.mark.parametrize("batch", ["abc", "1.5", "", " ", "1e3", "0x1", "١", "3_0", "NaN"])
def test_non_integer_batch_is_400(data_api: services.DataApi, batch: str) -> None:
    response = httpx.get(f"{data_api.url}/get_data", params={"batch": batch})
    body = assert_json_error(response, 400, "batch must be an integer", repr(batch))
    assert body["error"] == "invalid_batch"


def test_restart_without_token_is_401(data_api: services.DataApi) -> None:
    response = httpx.post(f"{data_api.url}/restart")
    assert_json_error(response, 401, "missing admin token", "Bearer")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer", "bearer x y", "Token {token}", "{token}"]
)
def test_restart_with_a_wrong_token_is_401(data_api: services.DataApi, header: str) -> None:
    response = httpx.post(
        f"{data_api.url}/restart", headers={"Authorization": header.format(token=data_api.admin_token)}
    )
    assert_json_error(response, 401)


def test_a_wrong_token_does_not_restart_the_cycle(data_api: services.DataApi) -> None:
    before = httpx.get(f"{data_api.url}/batches").json()["cycle_started_at"]
    httpx.post(f"{data_api.url}/restart", headers={"Authorization": "Bearer nope"})
    assert httpx.get(f"{data_api.url}/batches").json()["cycle_started_at"] == before


@pytest.mark.parametrize("path", ["/", "/nope", "/get_data/1", "/get_data/", "/batches/1", "/static/x.js"])
def test_unknown_route_is_json_404(data_api: services.DataApi, path: str) -> None:
    response = httpx.get(f"{data_api.url}{path}")
    assert_json_error(response, 404, f"no route GET {path}")
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/get_data", "GET"),
        ("DELETE", "/batches", "GET"),
        ("PUT", "/health", "GET"),
        ("GET", "/restart", "POST"),
    ],
)
def test_wrong_method_is_json_405(data_api: services.DataApi, method: str, path: str, allowed: str) -> None:
    response = httpx.request(method, f"{data_api.url}{path}")
    assert_json_error(response, 405, f"{method} is not allowed on {path}", allowed)
    assert allowed in response.headers["Allow"]


def test_malformed_query_string_is_not_a_500(data_api: services.DataApi) -> None:
    response = httpx.get(f"{data_api.url}/get_data?batch=%ZZ&batch=2")
    assert_json_error(response, 400, "batch must be an integer", "'%ZZ'")


def test_a_500_says_nothing_but_an_error_id_and_the_log_has_the_cause(tmp_path, caplog) -> None:
    import logging
    import os

    from readmission.config import Settings
    from readmission.data_api.app import create_app
    from readmission.data_api.batches import build_batches

    settings = Settings(local_dir=tmp_path, data_api_state_dir=tmp_path / "secret-state-dir")
    app = create_app(settings, batches=build_batches([{"encounter_id": i} for i in range(6)], batch_size=2, seed=1))
    client = app.test_client()
    assert client.get("/get_data").status_code == 200
    state = next((tmp_path / "secret-state-dir").iterdir())
    state.write_text("not json")  # the persisted cycle becomes unreadable
    os.utime(state, ns=(1, 1))
    with caplog.at_level(logging.ERROR):
        response = client.get("/get_data")
    assert response.status_code == 500
    body = response.get_json()
    assert "secret-state-dir" not in response.get_data(as_text=True)
    assert body["error"] == "state_file_error"
    assert body["error_id"] in body["message"]
    assert any(body["error_id"] in r.getMessage() and "secret-state-dir" in str(r.exc_info[1]) for r in caplog.records)
