"""Bodies of the error and operations answers, so that OpenAPI documents every status each route returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    detail: str = Field(description="What went wrong, in a sentence")
    errors: list[str] | None = Field(default=None, description="One sentence per problem (invalid records)")
    error_id: str | None = Field(default=None, description="500 only: the id of the log line with the details")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    ready: bool
    model_name: str | None = None
    model_version: str | None = None
    detail: str | None = Field(default=None, description="Why no model is loaded (503)")
    outcomes: dict[str, Any] | None = Field(default=None, description="Each outcome's model (200)")


class ReloadResult(BaseModel):
    old_version: str | None
    new_version: str | None
    changed: bool
    outcomes: dict[str, Any] = Field(default_factory=dict, description="The other outcomes' reloads")


def documented(**statuses: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: each error status (``s413="..."``) with its description and ``ErrorBody``."""
    return {int(key.removeprefix("s")): {"model": ErrorBody, "description": text} for key, text in statuses.items()}


INTERNAL_ERROR = "Internal error: a generic message with an error id; the details are in the API log"
NO_MODEL = "No model is loaded yet (the answer carries an error id; the API log has the details)"
