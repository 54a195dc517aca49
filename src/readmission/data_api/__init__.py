"""The batch data API: the UCI data served in fixed, seeded, shuffled batches.

``create_app(settings)`` (in :mod:`readmission.data_api.app`) builds the Flask
app; :mod:`readmission.data_api.server` runs it under gunicorn. The other
modules hold no Flask code: loading the CSV, cutting the batches, the
time-based cycle and its state file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readmission.data_api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the Flask-free modules import without Flask.
    if name == "create_app":
        from readmission.data_api.app import create_app

        return create_app
    raise AttributeError(name)
