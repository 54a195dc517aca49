"""Run the data API under gunicorn in the foreground.

The app is built before gunicorn forks (like ``--preload``): the data is read
and serialised once and the workers share those pages copy-on-write.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from readmission.config import Settings
from readmission.data_api.app import create_app

logger = logging.getLogger(__name__)

THREADS_PER_WORKER = 4
"""Threads per gunicorn worker: a slow client on the EC2 link does not block the others."""


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def json_log_config(level: str) -> dict[str, Any]:
    """gunicorn's own loggers (error and access) in the platform's JSON lines, for containers."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "readmission.logs.JsonFormatter"}},
        "handlers": {"console": handler},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            name: {"level": level, "handlers": ["console"], "propagate": False}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }


def gunicorn_options(settings: Settings, host: str, port: int, workers: int) -> dict[str, Any]:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "timeout": 120,
        "graceful_timeout": 10,
        "loglevel": settings.log_level.lower(),
        "errorlog": "-",
        "accesslog": "-",
        "proc_name": "readmission-data-api",
        # gunicorn >= 26 opens ~/.gunicorn/gunicorn.ctl by default: one shared path for
        # every server on the machine, and a management surface the data API does not need.
        "control_socket_disable": True,
    }
    if settings.log_format == "json":
        options["logconfig_dict"] = json_log_config(settings.log_level.upper())
    return options


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Serve until SIGTERM/SIGINT (gunicorn's master handles both gracefully)."""
    host = host or settings.data_api_host
    port = port or settings.data_api_port
    workers = workers or settings.data_api_workers
    app = create_app(settings)
    logger.info("data API listening on http://%s:%d (%d workers)", host, port, workers)
    _Gunicorn(app, gunicorn_options(settings, host, port, workers)).run()
