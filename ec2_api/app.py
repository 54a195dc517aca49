"""`python ec2_api/app.py`: serve the batch data API on DATA_API_HOST:DATA_API_PORT.

The logic lives in ``readmission.data_api``; this file only starts it (with
gunicorn, as in the container). ``wsgi.py`` is the entry point for a gunicorn
command line of your own.
"""

from __future__ import annotations

from readmission.config import get_settings
from readmission.data_api.server import serve
from readmission.logs import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    serve(settings)


if __name__ == "__main__":
    main()
