"""The inference API: request models, the fast predictor, the model manager, metrics and the app factory."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from readmission.config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, **kwargs: Any) -> FastAPI:
    """Build the FastAPI application (see ``readmission.serving.app.create_app``)."""
    from readmission.serving.app import create_app as _create_app

    return _create_app(settings, **kwargs)
