"""Helpers shared by the tests and the benchmarks: real services, data, deploy artefacts, faults.

Test modules import helpers from here, never from another test module or a conftest.

- ``services``: private MariaDB, S3 (moto_server), MLflow, data API, inference API, Pushgateway
- ``splits``: small patient-grouped splits of the genuine data
- ``airflow``: the DAGs folder and the real stack a ``dag.test()`` run needs
- ``aws``: moto constants and instance helpers
- ``data_api``: strict JSON parsing of what the data API serves
- ``serving``: inference API settings, a real uvicorn thread, champion registration
- ``hostile``: a "model" whose loading runs code
- ``promql``, ``kustomize``: what the dashboards/rules query; the kustomize overlays rendered
- ``podman``, ``kube``: images built and overlays played as pods with podman
- ``proxy``, ``scenarios``: a fault-injecting TCP proxy and the fault scenarios
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
