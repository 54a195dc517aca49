"""Request bodies are capped while they stream (413 before parsing), batches are parsed off the event
loop and scored a few at a time, and integral floats are integers (real uvicorn, real model)."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest

from readmission.serving.records import EXAMPLE_RECORD
from tests.support.serving import UvicornThread, serving_settings

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
UPLOAD_BYTES = 200 * MIB
BATCH_CAP = 8 * MIB


@pytest.fixture
def capped_server(tmp_path, serving_champion) -> Iterator[UvicornThread]:
    from readmission.serving import create_app

    settings = serving_settings(
        tmp_path, serving_champion.tracking_uri, model_name=serving_champion.name,
        max_request_bytes=16 * 1024, max_batch_request_bytes=BATCH_CAP, max_concurrent_batches=1,
    )  # fmt: skip
    app = create_app(settings)
    with UvicornThread(app) as server:
        assert app.state.manager.wait_until_loaded(60)
        yield server


def chunked_upload(port: int, path: str, total: int, between: Callable[[], None]) -> tuple[int, bytes | None]:
    """POST ``total`` bytes of JSON whitespace in 1 MiB chunks, calling ``between`` after each one.

    Stops when the server answers or drops the connection. Returns the bytes sent and the
    answer (None when the server reset the connection before it could be read).
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    frame = b"%x\r\n" % MIB + b" " * MIB + b"\r\n"
    sent = 0
    answer: bytes | None = None
    try:
        sock.sendall(head.encode())
        while sent < total and not select.select([sock], [], [], 0)[0]:
            sock.sendall(frame)
            sent += MIB
            between()
        if sent >= total:
            sock.sendall(b"0\r\n\r\n")
        answer = sock.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        sock.close()
    return sent, answer


def test_health_answers_while_a_200_mb_upload_streams_and_the_upload_is_cut_at_the_cap(capped_server):
    health: list[int] = []

    def check_health() -> None:
        health.append(httpx.get(f"{capped_server.url}/health", timeout=60).status_code)

    sent, answer = chunked_upload(capped_server.port, "/predict/batch", UPLOAD_BYTES, check_health)
    assert health, "/health was asked while the upload streamed"
    assert set(health) == {200}, "/health answered during the upload"
    assert sent < UPLOAD_BYTES, "the server answered before the whole 200 MB were sent"
    if answer is not None:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"MAX_BATCH_REQUEST_BYTES=8,388,608" in answer
    metrics = httpx.get(f"{capped_server.url}/metrics").text
    assert 'readmission_http_requests_total{endpoint="/predict/batch",method="POST",status="413"} 1.0' in metrics
    assert httpx.post(f"{capped_server.url}/predict", json=EXAMPLE_RECORD).status_code == 200


def _whole_answer(sock: socket.socket) -> bytes:
    """Headers and body of one HTTP answer (they may arrive in separate segments)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_declared_size_over_the_cap_is_refused_from_the_headers(capped_server):
    with socket.create_connection(("127.0.0.1", capped_server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % UPLOAD_BYTES
        )  # no body at all: the answer comes from the headers
        answer = _whole_answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"MAX_BATCH_REQUEST_BYTES" in answer
    single = httpx.post(f"{capped_server.url}/predict", content=b" " * (16 * 1024 + 1))
    assert single.status_code == 413
    assert "MAX_REQUEST_BYTES=16,384 bytes" in single.json()["detail"]


def test_one_batch_at_a_time_when_max_concurrent_batches_is_1(capped_server):
    second: list[httpx.Response] = []

    def post_second() -> None:
        second.append(httpx.post(f"{capped_server.url}/predict/batch", json={"records": [EXAMPLE_RECORD]}, timeout=60))

    waiter = threading.Thread(target=post_second)
    calls = 0

    def between() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            waiter.start()
            waiter.join(0.5)
            assert not second, "the second batch waits while the first (still uploading) holds the only slot"

    chunked_upload(capped_server.port, "/predict/batch", 2 * MIB, between)
    waiter.join(60)
    assert second[0].status_code == 200, second[0].text
    assert second[0].json()["scored"] == 1


def test_integral_floats_are_integers_and_fractions_are_refused(client):
    as_ints = client.post("/predict", json=EXAMPLE_RECORD).json()
    floats = {"time_in_hospital": 3.0, "num_lab_procedures": 59.0, "encounter_id": 149190.0}
    as_floats = client.post("/predict", json=EXAMPLE_RECORD | floats)
    assert as_floats.status_code == 200, as_floats.text
    assert as_floats.json()["readmission_risk"] == as_ints["readmission_risk"]

    fraction = client.post("/predict", json=EXAMPLE_RECORD | {"time_in_hospital": 2.5})
    assert fraction.status_code == 422
    assert fraction.json()["errors"] == ["time_in_hospital must be an integer, got 2.5"]

    batch = client.post(
        "/predict/batch", json={"records": [EXAMPLE_RECORD | floats, EXAMPLE_RECORD | {"num_procedures": 1.5}]}
    )
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert body["predictions"][0]["readmission_risk"] == as_ints["readmission_risk"]
    assert body["errors"] == [{"index": 1, "errors": ["num_procedures must be an integer, got 1.5"]}]


def test_a_batch_that_finds_no_slot_within_batch_slot_wait_seconds_gets_503_with_retry_after(
    tmp_path, serving_champion
):
    from readmission.serving import create_app

    settings = serving_settings(
        tmp_path, serving_champion.tracking_uri, model_name=serving_champion.name,
        max_concurrent_batches=1, batch_slot_wait_seconds=0.5,
    )  # fmt: skip
    app = create_app(settings)
    waited: list[httpx.Response] = []

    def post_while_the_upload_holds_the_slot() -> None:
        if not waited:  # the upload, paused here, keeps the only slot until this answer comes
            waited.append(httpx.post(f"{server.url}/predict/batch", json={"records": [EXAMPLE_RECORD]}, timeout=60))

    with UvicornThread(app) as server:
        assert app.state.manager.wait_until_loaded(60)
        chunked_upload(server.port, "/predict/batch", 2 * MIB, post_while_the_upload_holds_the_slot)
        after = httpx.post(f"{server.url}/predict/batch", json={"records": [EXAMPLE_RECORD]}, timeout=60)
    (busy,) = waited
    assert busy.status_code == 503, busy.text
    assert busy.headers["Retry-After"] == "1"
    assert "none finished within 0.5 s (BATCH_SLOT_WAIT_SECONDS)" in busy.json()["detail"]
    assert after.status_code == 200, after.text  # the slot is free again once the upload ended


def test_a_code_is_exactly_an_integer_in_predict_and_batch(client):
    """``true`` equals 1 and ``1.0`` is integral, yet neither is a code: 422 naming the field and its codes."""
    codes = "1, 2, 3, 4, 5, 6, 7, 8"
    for value in (True, 1.0):
        answer = client.post("/predict", json=EXAMPLE_RECORD | {"admission_type_id": value})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [f"admission_type_id must be one of the codes {codes}, got {value!r}"]
    batch = client.post(
        "/predict/batch",
        json={"records": [EXAMPLE_RECORD | {"admission_type_id": True}, EXAMPLE_RECORD,
                          EXAMPLE_RECORD | {"admission_type_id": 1.0}]},
    )  # fmt: skip
    assert batch.status_code == 200, batch.text
    body = batch.json()
    assert (body["count"], body["scored"]) == (3, 1)
    assert body["errors"] == [
        {"index": 0, "errors": [f"admission_type_id must be one of the codes {codes}, got True"]},
        {"index": 2, "errors": [f"admission_type_id must be one of the codes {codes}, got 1.0"]},
    ]


def test_a_huge_number_is_echoed_cut(client):
    body = orjson.dumps(EXAMPLE_RECORD).replace(b'"num_procedures":0', b'"num_procedures":' + b"7" * 4000)
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == ["num_procedures must be <= 20, got " + "7" * 40 + "…"]
