"""Init container of MLflow: write the basic-auth app's configuration file.

    python mlflow_auth_config.py /etc/mlflow-auth/basic_auth.ini

The auth tables live in the tracking database (MLFLOW_BACKEND_STORE_URI; MLflow keeps their
migrations in their own ``alembic_version_auth`` table), so the file carries a password and is
written at start into a memory volume instead of being stored in a ConfigMap. Users without a
grant get nothing (``NO_PERMISSIONS``); the users Job grants each service its own rights. The admin
comes from MLFLOW_AUTH_ADMIN_USERNAME / MLFLOW_AUTH_ADMIN_PASSWORD, which MLflow reads itself.
"""

from __future__ import annotations

import configparser
import logging
import os
import sys
from pathlib import Path

AUTHORIZATION_FUNCTION = "mlflow.server.auth:authenticate_request_basic_auth"

log = logging.getLogger("mlflow_auth_config")


def auth_config(backend_store_uri: str, default_permission: str = "NO_PERMISSIONS") -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": default_permission,
        # MLflow reads the file with interpolation: a '%' of a URL-encoded password must be doubled.
        "database_uri": backend_store_uri.replace("%", "%%"),
        "authorization_function": AUTHORIZATION_FUNCTION,
        "grant_default_workspace_access": "false",
    }
    return config


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mlflow_auth_config %(message)s")
    if len(argv) != 1:
        log.error("usage: mlflow_auth_config.py OUTPUT.ini")
        return 2
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD"):
        if not os.environ.get(name, "").strip():
            log.error("%s is not set (or empty): add it to the Secret/ConfigMap of the mlflow pod", name)
            return 2
    path = Path(argv[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    with path.open("w") as handle:
        auth_config(os.environ["MLFLOW_BACKEND_STORE_URI"].strip()).write(handle)
    log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
