"""Diabetes readmission MLOps platform: the domain package every service imports."""

import os

__version__ = "0.1.0"

# mlflow decides at import whether to send usage telemetry: this package never does, whichever
# module imports mlflow first (a setting in the environment wins).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
