"""The FastAPI app factory: routes are thin, every rule lives in the package."""

from __future__ import annotations

import asyncio
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
from readmission.logs import log_exception
from readmission.serving.bodies import BodyTooLargeError, read_capped
from readmission.serving.drift_monitor import DriftMonitor
from readmission.serving.fastpath import UnknownCategoryError
from readmission.serving.metrics import MetricsMiddleware, ServingMetrics
from readmission.serving.model_manager import LoadedModel, ModelManager, ModelUnavailableError
from readmission.serving.outcomes import PRIMARY, NotCoveredError, Outcomes, check_covered, not_covered_rows
from readmission.serving.records import (
    BatchPrediction,
    BatchValidator,
    Prediction,
    batch_request_schema,
    format_error,
    patient_record_model,
)
from readmission.serving.responses import INTERNAL_ERROR, NO_MODEL, Health, Readiness, ReloadResult, documented

logger = logging.getLogger(__name__)

ENDPOINTS = frozenset(
    {"/predict", "/predict/batch", "/health", "/ready", "/model-info", "/metrics", "/reload-model", "/docs",
     "/openapi.json"}
)  # fmt: skip


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


def _explain(request: Request) -> bool:
    if not request.scope.get("query_string"):  # most requests: no query to parse
        return False
    return request.query_params.get("explain", "").lower() in ("true", "1", "yes")


MODEL_QUALITY = ("intervals", "calibration_metrics", "band_rates")
"""What the training run put in the model's metadata about its quality (``modeling.run_log.quality_metadata``)."""


def describe_model(model: LoadedModel) -> dict[str, Any]:
    """``/model-info``'s entry of one model: what it reports about itself and its logged quality figures."""
    return {**model.info(), **{key: model.metadata.get(key) for key in MODEL_QUALITY}}


def create_app(settings: Settings | None = None, *, manager: ModelManager | None = None) -> FastAPI:
    """The inference API. One model manager per outcome starts with the app (lifespan) and stops with it."""
    settings = settings or get_settings()
    metrics = manager.metrics if manager is not None else ServingMetrics()
    manager = manager or ModelManager(settings.for_target(PRIMARY), metrics)
    outcomes = Outcomes(
        {
            PRIMARY: manager,
            "within_30_days": ModelManager(settings.for_target("within_30_days"), metrics),
        }
    )
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
        for each in outcomes.managers.values():
            each.start()
        monitor.start()
        try:
            yield
        finally:
            await run_in_threadpool(monitor.stop)
            for each in outcomes.managers.values():
                await run_in_threadpool(each.stop)

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
        """The generated schema plus ``PatientRecord`` (routes read raw bodies, so FastAPI does not add it;
        without the discharge codes the models do not cover) and the admin token's bearer scheme."""
        if app.openapi_schema is None:
            document = default_openapi()
            record_schema = Record.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(record_schema.pop("$defs", {}))
            components["PatientRecord"] = record_schema
            # death and hospice discharges are valid records the models do not cover (422): not in the enum
            discharge = record_schema["properties"]["discharge_disposition_id"]
            discharge["enum"] = [c for c in discharge["enum"] if c not in schema.NOT_READMITTABLE_DISCHARGE_IDS]
            discharge["description"] += " (death and hospice codes are refused with 422: no readmission risk)"
            document["components"]["securitySchemes"] = {"adminToken": {"type": "http", "scheme": "bearer"}}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.manager = manager
    app.state.outcomes = outcomes
    app.state.metrics = metrics
    app.state.drift_monitor = monitor
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=ENDPOINTS)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(422, "Invalid request", [format_error(e) for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _json({"detail": exc.detail}, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        error_id = log_exception(logger, f"{request.method} {request.url.path} failed", exc)
        detail = f"Internal error (error id {error_id}; the API log has the details)"
        return _json({"detail": detail, "error_id": error_id}, 500)

    def unavailable() -> Response:
        return _error(503, manager.unavailable_reason())

    # ------------------------------------------------------------------ scoring

    record_schema_ref = {"$ref": "#/components/schemas/PatientRecord"}

    @app.post(
        "/predict",
        tags=["scoring"],
        summary="Readmission risks of one encounter (both outcomes; `?explain=true` adds the top factors)",
        response_model=Prediction,
        responses=documented(
            s400="The body is not JSON",
            s413=f"The body is larger than MAX_REQUEST_BYTES ({settings.max_request_bytes:,} bytes)",
            s422="The record is invalid (each problem is listed) or ends in death or hospice",
            s500=INTERNAL_ERROR,
            s503=NO_MODEL,
        ),
        openapi_extra=_body(record_schema_ref),
    )
    async def predict(request: Request) -> Response:
        try:
            body = await read_capped(request, settings.max_request_bytes, "MAX_REQUEST_BYTES")
        except BodyTooLargeError as error:
            return _error(413, str(error))
        try:
            record = Record.model_validate_json(body)
        except ValidationError as error:
            invalid = _json_error(error)
            if invalid:
                return _error(400, invalid)
            metrics.invalid_records.labels(endpoint="/predict").inc()
            return _error(422, "Invalid record", [format_error(e) for e in error.errors()])
        try:
            check_covered(record.__dict__)
        except NotCoveredError as error:
            metrics.invalid_records.labels(endpoint="/predict").inc()
            return _error(422, "Encounter not covered by the models", [str(error)])
        models = outcomes.loaded()
        model = models.get(PRIMARY)
        if model is None:
            return unavailable()
        explain = _explain(request)
        try:
            if explain:
                answer = await run_in_threadpool(outcomes.predict, record.__dict__, models, explain=True)
            else:
                answer = outcomes.predict(record.__dict__, models, explain=False)
        except UnknownCategoryError as error:
            return _error(422, "Invalid record", [str(error)])
        primary = answer[PRIMARY]
        metrics.observe_prediction(primary["risk"], bool(primary["prediction"]))
        monitor.observe_record(record.__dict__)
        return _json(
            {
                "readmission_risk": primary["risk"],
                "prediction": primary["prediction"],
                "risk_band": primary["risk_band"],
                "base_rate": primary["base_rate"],
                "model_name": model.name,
                "model_version": model.version,
                "model_alias": model.alias,
                "loaded_at": model.loaded_at_iso,
                "outcomes": answer,
            }
        )

    def score_batch(models: dict[str, LoadedModel], raw: list[Any], explain: bool) -> dict[str, Any]:
        """Validate by column, score the valid records in one vectorised call, report the others by index."""
        model = models[PRIMARY]
        batch = validator.validate(raw)
        frame, valid, errors = batch.frame, batch.valid, dict(batch.errors)
        refused = not_covered_rows(frame) if len(valid) else {}
        if refused:
            for row, reason in refused.items():
                errors[int(valid[row])] = [reason]
            keep = np.ones(len(valid), dtype=bool)
            keep[list(refused)] = False
            frame, valid = frame.loc[keep].reset_index(drop=True), valid[keep]
        rows = outcomes.predict_frame(frame, models, explain=explain)
        scored = [
            {
                "readmission_risk": row[PRIMARY]["risk"],
                "prediction": row[PRIMARY]["prediction"],
                "risk_band": row[PRIMARY]["risk_band"],
                "outcomes": row,
            }
            for row in rows
        ]
        if errors:
            predictions: list[dict[str, Any] | None] = [None] * batch.count
            for index, prediction in zip(valid.tolist(), scored, strict=True):
                predictions[index] = prediction
        else:
            predictions = list(scored)
        risks = np.fromiter((p["readmission_risk"] for p in scored), dtype=float, count=len(scored))
        metrics.observe_predictions(risks, sum(p["prediction"] for p in scored))
        if len(valid):
            monitor.observe_frame(frame)
        if errors:
            metrics.invalid_records.labels(endpoint="/predict/batch").inc(len(errors))
        return {
            "model_name": model.name,
            "model_version": model.version,
            "model_alias": model.alias,
            "loaded_at": model.loaded_at_iso,
            "threshold": model.threshold,
            "count": batch.count,
            "scored": len(scored),
            "predictions": predictions,
            "errors": [{"index": i, "errors": msgs} for i, msgs in sorted(errors.items())],
        }

    def parse_and_score(models: dict[str, LoadedModel], body: bytes, explain: bool) -> Response:
        """Parse, validate and score one batch body (in a worker thread: the event loop stays free)."""
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
        try:
            return _json(score_batch(models, raw, explain))
        except UnknownCategoryError as error:
            return _error(422, "A record has a value the model cannot encode", [str(error)])

    batch_slots = asyncio.Semaphore(settings.max_concurrent_batches)

    @app.post(
        "/predict/batch",
        tags=["scoring"],
        summary=f"Readmission risk of many encounters (at most {max_batch:,})",
        response_model=BatchPrediction,
        responses=documented(
            s400="The body is not JSON",
            s413=(
                f"More than MAX_BATCH_RECORDS ({max_batch:,}) records, or a body larger than "
                f"MAX_BATCH_REQUEST_BYTES ({settings.max_batch_request_bytes:,} bytes)"
            ),
            s422="The body has no `records` list, or a record has a value the model cannot encode",
            s500=INTERNAL_ERROR,
            s503=(
                f"No model is loaded yet, or MAX_CONCURRENT_BATCHES ({settings.max_concurrent_batches}) batches "
                f"were being scored for BATCH_SLOT_WAIT_SECONDS ({settings.batch_slot_wait_seconds:g} s): retry after "
                "the Retry-After seconds"
            ),
        ),
        openapi_extra=_body(batch_request_schema(max_batch)),
    )
    async def predict_batch(request: Request) -> Response:
        models = outcomes.loaded()
        if PRIMARY not in models:
            return unavailable()
        try:
            await asyncio.wait_for(batch_slots.acquire(), settings.batch_slot_wait_seconds)
        except TimeoutError:
            busy = (
                f"{settings.max_concurrent_batches} batches are being scored (MAX_CONCURRENT_BATCHES) and none "
                f"finished within {settings.batch_slot_wait_seconds:g} s (BATCH_SLOT_WAIT_SECONDS): retry"
            )
            return _json({"detail": busy}, 503, {"Retry-After": "1"})
        try:
            try:
                body = await read_capped(request, settings.max_batch_request_bytes, "MAX_BATCH_REQUEST_BYTES")
            except BodyTooLargeError as error:
                return _error(413, str(error))
            return await run_in_threadpool(parse_and_score, models, body, _explain(request))
        finally:
            batch_slots.release()

    # ------------------------------------------------------------------ operations

    @app.get("/health", tags=["operations"], summary="Liveness", response_model=Health)
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: a model is loaded",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": NO_MODEL}, **documented(s500=INTERNAL_ERROR)},
    )
    async def ready() -> Response:
        model = manager.current
        if model is None:
            return _json({"ready": False, "detail": manager.unavailable_reason()}, 503)
        return _json(
            {"ready": True, "model_name": model.name, "model_version": model.version, "outcomes": outcomes.status()}
        )

    @app.get(
        "/model-info",
        tags=["operations"],
        summary="The served models: version, metrics with bootstrap 95 % intervals, calibration, bands, inputs",
        description=(
            "The primary outcome's model at the top level and every loaded outcome's model under `outcomes`, each "
            "with `intervals` (test ROC-AUC, PR-AUC and Brier with patient-clustered bootstrap 95 % bounds), "
            "`calibration_metrics` (ECE, slope, intercept per split) and `band_rates` (share of patients and "
            "observed rate per risk band); null for a model trained before they were logged."
        ),
        responses=documented(s500=INTERNAL_ERROR, s503=NO_MODEL),
    )
    async def model_info() -> Response:
        model = manager.current
        if model is None:
            return unavailable()
        described = {target: describe_model(each) for target, each in outcomes.loaded().items()}
        return _json(
            {
                **describe_model(model),
                "request_fields": input_columns,
                "reload_failures": manager.failures,
                "outcomes": described,
            }
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/reload-model",
        tags=["operations"],
        summary="Load the current champion now (Authorization: Bearer <API_ADMIN_TOKEN>)",
        response_model=ReloadResult,
        responses=documented(
            s401="Missing or wrong token",
            s500=INTERNAL_ERROR,
            s503="Loading failed or was refused (the current model is kept), or API_ADMIN_TOKEN is not set",
        ),
        openapi_extra={"security": [{"adminToken": []}]},
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
        others: dict[str, Any] = {}
        for target, each in outcomes.managers.items():
            if each is not manager:
                try:
                    before, after = await run_in_threadpool(each.refresh, force=True)
                    others[target] = {"old_version": before, "new_version": after, "changed": before != after}
                except ModelUnavailableError as error:
                    others[target] = {"error": str(error)}
        return _json({"old_version": old, "new_version": new, "changed": old != new, "outcomes": others})

    return app
