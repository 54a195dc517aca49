"""Airflow reads its configuration at the first ``import airflow``: set it here, before any test imports it.

The in-process tests (integrity) only parse the DAG folder; the end-to-end tests
run every DAG run in a subprocess (``python -m readmission.dagrun``) with its own
environment, so nothing here leaks into them.
"""

from __future__ import annotations

import os
import tempfile

from tests.support.airflow import DAGS_FOLDER

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
