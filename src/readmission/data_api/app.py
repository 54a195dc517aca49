"""The Flask app factory: thin views over the batches and the cycle.

Every answer is JSON, errors included (unknown routes, wrong methods, bad
input); batch bodies are served as pre-serialised bytes.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from typing import Any

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from readmission import schema
from readmission.config import Settings, get_settings
from readmission.data_api.batches import Batches, build_batches
from readmission.data_api.compression import GzipCache, accepts_gzip
from readmission.data_api.cycle import Clock, Cycle
from readmission.data_api.errors import DataApiError, InvalidBatchError
from readmission.data_api.loading import load_records
from readmission.logs import log_exception

logger = logging.getLogger(__name__)

_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_batch_number(raw: str) -> int:
    """An integer batch number from the query string (``1.0``, ``abc`` or empty are not)."""
    text = raw.strip()
    if not _INTEGER.fullmatch(text):
        raise InvalidBatchError(raw)
    return int(text)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json", headers=headers)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": code, "message": message, "status": status}, status, headers)


def internal_error(code: str, error_id: str) -> Response:
    """A 500 that says nothing about the cause (a path, a URL with credentials): the log has it under the id."""
    body = {"error": code, "message": f"internal error (error id {error_id}; the data API log has the details)",
            "status": 500, "error_id": error_id}  # fmt: skip
    return json_response(body, 500)


def create_app(settings: Settings | None = None, *, batches: Batches | None = None, clock: Clock = time.time) -> Flask:
    """Load the data, cut and serialise the batches, open the cycle, wire the routes.

    ``batches`` lets a caller that already built them (a test, a benchmark)
    skip the ~2 s of loading; ``clock`` is the wall clock of the cycle.
    """
    settings = settings or get_settings()
    admin_token = settings.secret("data_api_admin_token")  # fails fast outside local mode
    if batches is None:
        started = time.perf_counter()
        batches = build_batches(
            load_records(settings.data_csv_path),
            batch_size=settings.batch_size,
            seed=settings.shuffle_seed,
        )
        logger.info(
            "prepared %d batches of %d rows (%d rows) in %.1f s",
            batches.total,
            batches.batch_size,
            batches.total_rows,
            time.perf_counter() - started,
        )
    cycle = Cycle(
        settings.resolved_data_api_state_dir,
        interval=settings.update_interval_seconds,
        total_batches=batches.total,
        layout=batches.layout(),
        clock=clock,
    )
    gzip_cache = GzipCache()

    app = Flask(__name__)

    def batch_response(number: int) -> Response:
        body = batches.body(number)
        headers = {"Vary": "Accept-Encoding"}
        if accepts_gzip(request.headers.get("Accept-Encoding")):
            body = gzip_cache.get(number, body)
            headers["Content-Encoding"] = "gzip"
        return Response(body, mimetype="application/json", headers=headers)

    @app.get("/get_data")
    def get_data() -> Response:
        raw = request.args.get("batch")
        if raw is not None:
            return batch_response(parse_batch_number(raw))
        position = cycle.position()
        if position.current_batch is None:
            return json_response(
                {
                    "exhausted": True,
                    "message": (
                        f"the data is exhausted: all {batches.total} batches of this cycle "
                        "have been served; GET /get_data?batch=N still returns batch N "
                        "and POST /restart starts a new cycle"
                    ),
                    "batch_number": None,
                    "total_batches": batches.total,
                    "batch_size": batches.batch_size,
                    "data": [],
                    **position.as_json(),
                }
            )
        return batch_response(position.current_batch)

    @app.get("/batches")
    def list_batches() -> Response:
        return json_response(
            {
                "total_batches": batches.total,
                "batch_size": batches.batch_size,
                "total_rows": batches.total_rows,
                "shuffle_seed": batches.shuffle_seed,
                "update_interval_seconds": cycle.interval,
                "columns": list(schema.COLUMN_NAMES),
                "batches": [
                    {"batch_number": number, "rows": size} for number, size in enumerate(batches.sizes, start=1)
                ],
                **cycle.position().as_json(),
            }
        )

    @app.get("/health")
    def health() -> Response:
        position = cycle.position()
        return json_response(
            {
                "status": "ok",
                "total_rows": batches.total_rows,
                "total_batches": batches.total,
                "current_batch": position.current_batch,
                "exhausted": position.exhausted,
            }
        )

    @app.post("/restart")
    def restart() -> Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="data-api"'}
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(
                401,
                "unauthorized",
                "missing admin token: send 'Authorization: Bearer <DATA_API_ADMIN_TOKEN>'",
                challenge,
            )
        if not hmac.compare_digest(token.strip().encode(), admin_token.encode()):
            return error_response(401, "unauthorized", "invalid admin token", challenge)
        position = cycle.restart()
        return json_response({"status": "restarted", **position.as_json()})

    @app.errorhandler(DataApiError)
    def domain_error(error: DataApiError) -> Response:
        if error.status >= 500:  # a file or state problem: the path and cause stay in the log
            return internal_error(error.code, log_exception(logger, f"{request.method} {request.path}", error))
        return error_response(error.status, error.code, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = (error.name or "error").lower().replace(" ", "_")
        if status == 404:
            message = f"no route {request.method} {request.path}: see GET /batches, /get_data, /health"
        elif status == 405:
            allowed = ", ".join(sorted(m for m in (getattr(error, "valid_methods", None) or []) if m != "OPTIONS"))
            message = f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
        else:
            message = error.description or error.name
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return error_response(status, code, message, headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        return internal_error("internal_error", log_exception(logger, f"{request.method} {request.path}", error))

    return app
