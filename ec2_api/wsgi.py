"""WSGI entry point: ``gunicorn --preload --chdir ec2_api wsgi:app``.

``--preload`` builds the app (reads and serialises the data) once in the
master, so the workers share it.
"""

from __future__ import annotations

from readmission.config import get_settings
from readmission.data_api.app import create_app
from readmission.logs import configure_logging

_settings = get_settings()
configure_logging(_settings.log_level, _settings.log_format)
app = create_app(_settings)
