"""Logging set-up shared by every service: plain text locally, JSON in containers."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def new_error_id() -> str:
    """A short id that ties a generic error answer to the log line holding its details."""
    return uuid.uuid4().hex[:12]


def log_exception(logger: logging.Logger, what: str, error: BaseException) -> str:
    """Log ``error`` with its traceback under a new error id; return the id (the only thing a client sees)."""
    error_id = new_error_id()
    logger.error("error %s: %s", error_id, what, exc_info=error)
    return error_id
