"""The FastAPI app factory: routes are thin, every rule lives in the package."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from readmission import schema
from readmission.config import MissingSecretError, Settings, get_settings
from readmission.serving.drift_monitor import DriftMonitor
from readmission.serving.fastpath import UnknownCategoryError
from readmission.serving.metrics import MetricsMiddleware, ServingMetrics
from readmission.serving.model_manager import LoadedModel, ModelManager, ModelUnavailableError
from readmission.serving.records import (
    BatchPrediction,
    BatchValidator,
    Prediction,
    batch_request_schema,
    format_error,
    patient_record_model,
)

logger = logging.getLogger(__name__)

ENDPOINTS = frozenset(
    {"/predict", "/predict/batch", "/health", "/ready", "/model-info", "/metrics", "/reload-model", "/docs",
     "/openapi.json"}
)  # fmt: skip
MEDIUM_RISK_FRACTION = 0.75
"""``risk_band``: high at or above the model's threshold, medium from 75 % of it, low below."""


def risk_band(risk: float, threshold: float) -> str:
    if risk >= threshold:
        return "high"
    return "medium" if risk >= MEDIUM_RISK_FRACTION * threshold else "low"


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _error(status: int, detail: str, errors: list[str] | None = None) -> Response:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return _json(body, status)


def _json_error(error: ValidationError) -> str | None:
    for item in error.errors():
        if item.get("type") == "json_invalid":
            return f"Invalid JSON: {item.get('ctx', {}).get('error', item.get('msg'))}"
    return None


def _body(body_schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}}}


def create_app(settings: Settings | None = None, *, manager: ModelManager | None = None) -> FastAPI:
    """The inference API. The model manager starts with the app (lifespan) and stops with it."""
    settings = settings or get_settings()
    metrics = manager.metrics if manager is not None else ServingMetrics()
    manager = manager or ModelManager(settings, metrics)
    Record = patient_record_model()
    validator = BatchValidator(Record)
    input_columns = list(schema.INPUT_COLUMNS)
    max_batch = settings.max_batch_records
    served = manager

    def served_version() -> tuple[str, str | None] | None:
        model = served.current
        return (model.version, model.run_id) if model is not None else None

    monitor = DriftMonitor(settings, metrics, served_version, manager.cache_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        monitor.start()
        try:
            yield
        finally:
            await run_in_threadpool(monitor.stop)
            await run_in_threadpool(manager.stop)

    app = FastAPI(
        title="Diabetes readmission risk API",
        version="1.0.0",
        description=(
            "Scores hospital encounters of diabetic patients (UCI Diabetes 130-US hospitals) with the "
            f"registered model `{settings.model_name}@{settings.model_alias}`. Send the raw fields as the "
            "data API serves them; the fitted preprocessing travels inside the model."
        ),
        lifespan=lifespan,
    )
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """The generated schema plus ``PatientRecord`` (routes read raw bodies, so FastAPI does not add it)."""
        if app.openapi_schema is None:
            document = default_openapi()
            record_schema = Record.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(record_schema.pop("$defs", {}))
            components["PatientRecord"] = record_schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.manager = manager
    app.state.metrics = metrics
    app.state.drift_monitor = monitor
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=ENDPOINTS)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(422, "Invalid request", [format_error(e) for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _json({"detail": exc.detail}, exc.status_code, getattr(exc, "headers", None))

    def unavailable() -> Response:
        return _error(503, manager.unavailable_reason())

    # ------------------------------------------------------------------ scoring

    record_schema_ref = {"$ref": "#/components/schemas/PatientRecord"}

    @app.post(
        "/predict",
        tags=["scoring"],
        summary="Readmission risk of one encounter",
        response_model=Prediction,
        responses={
            400: {"description": "The body is not JSON"},
            422: {"description": "The record is invalid (each problem is listed)"},
            503: {"description": "No model is loaded yet"},
        },
        openapi_extra=_body(record_schema_ref),
    )
    async def predict(request: Request) -> Response:
        body = await request.body()
        try:
            record = Record.model_validate_json(body)
        except ValidationError as error:
            invalid = _json_error(error)
            if invalid:
                return _error(400, invalid)
            metrics.invalid_records.labels(endpoint="/predict").inc()
            return _error(422, "Invalid record", [format_error(e) for e in error.errors()])
        model = manager.current
        if model is None:
            return unavailable()
        try:
            risk = model.predictor.predict_record(record.__dict__)
        except UnknownCategoryError as error:
            return _error(422, "Invalid record", [str(error)])
        positive = risk >= model.threshold
        metrics.observe_prediction(risk, positive)
        monitor.observe_record(record.__dict__)
        return _json(
            {
                "readmission_risk": risk,
                "prediction": int(positive),
                "risk_band": risk_band(risk, model.threshold),
                "model_name": model.name,
                "model_version": model.version,
                "model_alias": model.alias,
                "loaded_at": model.loaded_at_iso,
            }
        )

    def score_batch(model: LoadedModel, raw: list[Any]) -> dict[str, Any]:
        """Validate by column, score the valid records in one vectorised call, report the others by index."""
        batch = validator.validate(raw)
        risks = model.predictor.predict_frame(batch.frame) if len(batch.valid) else np.empty(0)
        threshold = model.threshold
        positive = risks >= threshold
        bands = np.where(positive, "high", np.where(risks >= MEDIUM_RISK_FRACTION * threshold, "medium", "low"))
        scored = [
            {"readmission_risk": risk, "prediction": int(flag), "risk_band": band}
            for risk, flag, band in zip(risks.tolist(), positive.tolist(), bands.tolist(), strict=True)
        ]
        if batch.errors:
            predictions: list[dict[str, Any] | None] = [None] * batch.count
            for index, prediction in zip(batch.valid.tolist(), scored, strict=True):
                predictions[index] = prediction
        else:
            predictions = list(scored)
        metrics.observe_predictions(risks, int(positive.sum()))
        if len(batch.valid):
            monitor.observe_frame(batch.frame)
        if batch.errors:
            metrics.invalid_records.labels(endpoint="/predict/batch").inc(len(batch.errors))
        return {
            "model_name": model.name,
            "model_version": model.version,
            "model_alias": model.alias,
            "loaded_at": model.loaded_at_iso,
            "threshold": threshold,
            "count": batch.count,
            "scored": len(scored),
            "predictions": predictions,
            "errors": [{"index": i, "errors": msgs} for i, msgs in sorted(batch.errors.items())],
        }

    @app.post(
        "/predict/batch",
        tags=["scoring"],
        summary=f"Readmission risk of many encounters (at most {max_batch:,})",
        response_model=BatchPrediction,
        responses={
            400: {"description": "The body is not JSON or has no `records` list"},
            413: {"description": f"More than {max_batch:,} records"},
            503: {"description": "No model is loaded yet"},
        },
        openapi_extra=_body(batch_request_schema(max_batch)),
    )
    async def predict_batch(request: Request) -> Response:
        body = await request.body()
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            return _error(400, f"Invalid JSON: {error}")
        raw = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(raw, list):
            return _error(422, "Invalid request", ["records: a list of patient records is required"])
        metrics.batch_size.observe(len(raw))
        if len(raw) > max_batch:
            return _error(413, f"Too many records: {len(raw):,} > MAX_BATCH_RECORDS={max_batch:,}; split the batch")
        model = manager.current
        if model is None:
            return unavailable()
        try:
            result = await run_in_threadpool(score_batch, model, raw)
        except UnknownCategoryError as error:
            return _error(422, "A record has a value the model cannot encode", [str(error)])
        return _json(result)

    # ------------------------------------------------------------------ operations

    @app.get("/health", tags=["operations"], summary="Liveness")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/ready", tags=["operations"], summary="Readiness: a model is loaded")
    async def ready() -> Response:
        model = manager.current
        if model is None:
            return _json({"ready": False, "detail": manager.unavailable_reason()}, 503)
        return _json({"ready": True, "model_name": model.name, "model_version": model.version})

    @app.get("/model-info", tags=["operations"], summary="The served model: version, metrics, threshold, inputs")
    async def model_info() -> Response:
        model = manager.current
        if model is None:
            return unavailable()
        return _json({**model.info(), "request_fields": input_columns, "reload_failures": manager.failures})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/reload-model",
        tags=["operations"],
        summary="Load the current champion now (Authorization: Bearer <API_ADMIN_TOKEN>)",
        responses={401: {"description": "Missing or wrong token"}, 503: {"description": "Loading failed"}},
    )
    async def reload_model(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            expected = settings.secret("api_admin_token")
        except MissingSecretError as error:
            return _error(503, str(error))
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            return _json(
                {"detail": "A valid admin token is required: Authorization: Bearer <API_ADMIN_TOKEN>"},
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        try:
            old, new = await run_in_threadpool(manager.refresh, force=True)
        except ModelUnavailableError as error:
            current = manager.current
            return _error(503, f"Reload failed, still serving version {current.version if current else None}: {error}")
        return _json({"old_version": old, "new_version": new, "changed": old != new})

    return app
