"""ASGI entry point of the inference API container: ``uvicorn main:app`` (logic lives in readmission.serving)."""

from __future__ import annotations

from readmission.config import get_settings
from readmission.logs import configure_logging
from readmission.serving import create_app

_settings = get_settings()
configure_logging(_settings.log_level, _settings.log_format)
app = create_app(_settings)
