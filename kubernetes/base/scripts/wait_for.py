"""Init container: check a pod's settings, then wait until the services it needs accept connections.

    python wait_for.py MLFLOW_BACKEND_STORE_URI [MLFLOW_TRACKING_URI ...] [--set NAME ...]

Each argument before ``--set`` names an environment variable holding a URL
(``mysql+pymysql://user:pw@mysql:3306/db``, ``http://mlflow:5000``); each after it a setting that
must only be non-empty (a password, a key). An unset or empty variable stops at once (exit 2) with
a message naming it: a missing secret is a configuration error, not something to wait for, and
never falls back to a default. Then it retries until every host:port answers, logging only host
and port (never credentials), so a pod started before its dependency waits instead of
crash-looping.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "mysql": 3306, "mariadb": 3306, "postgresql": 5432, "s3": 443}
RETRY_SECONDS = float(os.environ.get("WAIT_RETRY_SECONDS", "2"))

log = logging.getLogger("wait_for")


class ConfigError(ValueError):
    """A setting is missing or is not a URL with a host."""


def address(name: str, environ: os._Environ[str] | dict[str, str] = os.environ) -> tuple[str, int]:
    """The (host, port) of the URL held by the environment variable ``name``."""
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (or empty): add it to the Secret/ConfigMap this pod reads")
    parts = urlsplit(value)
    scheme = parts.scheme.split("+", 1)[0]
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError as error:
        raise ConfigError(f"{name}: bad port in the URL") from error
    if not parts.hostname or port is None:
        raise ConfigError(f"{name}: expected a URL with a host (scheme://host:port/...), got scheme {scheme!r}")
    return parts.hostname, port


def reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split(arguments: list[str]) -> tuple[list[str], list[str]]:
    """(URL settings, settings that must only be set) of the command line."""
    if "--set" not in arguments:
        return arguments, []
    index = arguments.index("--set")
    return arguments[:index], arguments[index + 1 :]


def main(names: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s wait_for %(message)s")
    urls, required = _split(names)
    if not urls and not required:
        log.error("usage: wait_for.py [ENV_VAR_WITH_URL ...] [--set NAME ...]")
        return 2
    empty = [name for name in required if not os.environ.get(name, "").strip()]
    if empty:
        log.error("not set (or empty): %s: add them to the Secret/ConfigMap this pod reads", ", ".join(empty))
        return 2
    try:
        targets = {name: address(name) for name in urls}
    except ConfigError as error:
        log.error("%s", error)
        return 2
    for name, (host, port) in targets.items():
        attempts = 0
        while not reachable(host, port):
            if attempts % 15 == 0:
                log.info("waiting for %s:%d (%s)", host, port, name)
            attempts += 1
            time.sleep(RETRY_SECONDS)
        log.info("%s:%d is up (%s)", host, port, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
