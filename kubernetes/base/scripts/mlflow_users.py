"""Job: one MLflow user per service, with only the rights it needs (idempotent; re-run on every deploy).

As the admin (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD = the admin's credentials) it
creates or re-keys the users, creates the experiment (MLFLOW_EXPERIMENT_NAME) and the registered
models of both outcomes (MODEL_NAME: readmission at any time; MODEL_NAME_30D: within 30 days) if
missing, and grants on each:

- the pipeline (MLFLOW_PIPELINE_USERNAME / _PASSWORD): MANAGE on both: it logs runs, registers
  versions and moves the ``champion`` alias;
- the inference API (MLFLOW_API_USERNAME / _PASSWORD): READ on both: it loads the champion and
  downloads its artifacts through the server, and cannot register a version or move an alias.

The server runs with ``default_permission = NO_PERMISSIONS``: any other user gets nothing.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.server.auth.client import AuthServiceClient

log = logging.getLogger("mlflow_users")

REQUIRED = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_PIPELINE_USERNAME",
    "MLFLOW_PIPELINE_PASSWORD",
    "MLFLOW_API_USERNAME",
    "MLFLOW_API_PASSWORD",
    "MLFLOW_EXPERIMENT_NAME",
    "MODEL_NAME",
    "MODEL_NAME_30D",
)


def _missing(environ: Mapping[str, str]) -> list[str]:
    return [name for name in REQUIRED if not environ.get(name, "").strip()]


def ensure_user(auth: AuthServiceClient, username: str, password: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        auth.create_user(username, password)
        log.info("created user %s", username)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.update_user_password(username, password)
        log.info("user %s exists: password updated", username)


def grant(auth: AuthServiceClient, username: str, resource_type: str, resource_id: str, permission: str) -> None:
    """Grant, or change an existing grant to, ``permission``."""
    from mlflow.exceptions import MlflowException

    try:
        auth.grant_user_permission(username, resource_type, resource_id, permission)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        auth.revoke_user_permission(username, resource_type, resource_id)
        auth.grant_user_permission(username, resource_type, resource_id, permission)
    log.info("%s: %s on %s %s", username, permission, resource_type, resource_id)


def provision(environ: Mapping[str, str]) -> None:
    # Imported here: a missing setting is reported before the slow import of MLflow.
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.client import AuthServiceClient
    from mlflow.tracking import MlflowClient

    tracking_uri = environ["MLFLOW_TRACKING_URI"]
    auth, client = AuthServiceClient(tracking_uri), MlflowClient(tracking_uri)
    pipeline, api = environ["MLFLOW_PIPELINE_USERNAME"], environ["MLFLOW_API_USERNAME"]
    ensure_user(auth, pipeline, environ["MLFLOW_PIPELINE_PASSWORD"])
    ensure_user(auth, api, environ["MLFLOW_API_PASSWORD"])

    experiment = client.get_experiment_by_name(environ["MLFLOW_EXPERIMENT_NAME"])
    experiment_id = (
        experiment.experiment_id if experiment else client.create_experiment(environ["MLFLOW_EXPERIMENT_NAME"])
    )
    model_names = (environ["MODEL_NAME"], environ["MODEL_NAME_30D"])
    for model_name in model_names:
        try:
            client.get_registered_model(model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            client.create_registered_model(model_name)
    for username, permission in ((pipeline, "MANAGE"), (api, "READ")):
        grant(auth, username, "experiment", experiment_id, permission)
        for model_name in model_names:
            grant(auth, username, "registered_model", model_name, permission)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mlflow_users %(message)s")
    missing = _missing(os.environ)
    if missing:
        log.error("not set (or empty): %s: add them to the Secret/ConfigMap of this Job", ", ".join(missing))
        return 2
    provision(os.environ)
    return 0


if __name__ == "__main__":
    sys.exit(main())
