"""Process supervision on one machine: free loopback ports, children in their own process group,
readiness checks, and a throwaway MariaDB.

``readmission run`` (``readmission.bringup``), the tests (``tests.support.services``) and the
benchmarks start every service through these functions; each child runs in
its own process group and is stopped with that group, so workers it forked go too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

logger = logging.getLogger(__name__)

VENV_BIN = Path(sys.executable).parent


class ServiceError(RuntimeError):
    """A service exited before it was ready, or was not ready in time."""


# --------------------------------------------------------------------------- ports and readiness


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def choose_port(preferred: int, what: str, taken: set[int] | None = None) -> int:
    """``preferred`` when it is free (and not already handed out), else a free port (logged)."""
    taken = taken if taken is not None else set()
    if preferred not in taken and port_is_free(preferred):
        taken.add(preferred)
        return preferred
    port = free_port()
    while port in taken:
        port = free_port()
    taken.add(port)
    logger.warning("port %d for %s is taken: using %d", preferred, what, port)
    return port


def http_ready(url: str, *, ok: Callable[[httpx.Response], bool] | None = None) -> Callable[[], bool]:
    """A readiness check: ``url`` answers (below 500, or as ``ok`` says)."""

    def check() -> bool:
        try:
            response = httpx.get(url, timeout=2)
        except httpx.HTTPError:
            return False
        return ok(response) if ok else response.status_code < 500

    return check


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log_tail: Callable[[], str] = str,
) -> None:
    """Poll ``check`` until it is true; :class:`ServiceError` when ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceError(
                f"{what} exited with code {process.returncode} before it was ready; its log ends with:\n{log_tail()}"
            )
        with contextlib.suppress(Exception):  # a check that fails means: not ready yet
            if check():
                return
        time.sleep(0.1)
    raise ServiceError(f"{what} was not ready after {timeout:.0f} s; its log ends with:\n{log_tail()}")


# --------------------------------------------------------------------------- process groups


def start_in_group(
    cmd: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start ``cmd`` in a new session (its own process group), output to ``log_path`` (or nowhere)."""
    log_file = open(log_path or os.devnull, "ab")  # noqa: SIM115 - the caller closes it
    process = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=cwd,
    )
    return process, log_file


def stop_process_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Send ``sig`` to the group of ``process``, SIGKILL it after ``timeout``; leftovers of the group go too."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("pid %d did not stop in %.0f s: killing its group", process.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Leftovers of the group (e.g. gunicorn or uvicorn workers) go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def tail(path: Path | None, chars: int = 3000) -> str:
    """The last ``chars`` characters of the log at ``path`` ('' when there is none)."""
    try:
        return path.read_text(errors="replace")[-chars:] if path else ""
    except OSError:
        return ""


@contextlib.contextmanager
def running(
    cmd: list[str],
    *,
    ready: Callable[[], bool],
    what: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd`` in its own process group, wait for ``ready``, stop the group at exit."""
    process, log_file = start_in_group(cmd, env=env, log_path=log_path)
    with log_file:
        try:
            wait_until(ready, timeout=timeout, what=what, process=process, log_tail=lambda: tail(log_path))
            yield process
        finally:
            stop_process_group(process, stop_signal)


# --------------------------------------------------------------------------- services


def mlflow_server_command(backend_store_uri: str, artifacts_destination: str, port: int) -> list[str]:
    """``mlflow server`` on loopback with one worker (run it with MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false)."""
    return [
        str(VENV_BIN / "mlflow"), "server",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", artifacts_destination,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip


@dataclass(frozen=True)
class MariaDB:
    host: str
    port: int
    user: str
    password: str
    socket_path: Path

    def url(self, database: str) -> str:
        return f"mysql+pymysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        subprocess.run(
            ["mariadb", f"--socket={self.socket_path}", "-uroot", "-e", sql], check=True, capture_output=True
        )

    def fresh_database(self, prefix: str = "test") -> str:
        """Create an empty database with a unique name and return its SQLAlchemy URL."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        self.admin(f"CREATE DATABASE `{name}`")
        return self.url(name)


def mariadb_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if path is None:
        raise ServiceError(f"{name} not found: install MariaDB with `apt-get install -y mariadb-server`")
    return path


@contextlib.contextmanager
def mariadb_server(base_dir: Path, extra_args: Sequence[str] = ()) -> Iterator[MariaDB]:
    """A throwaway MariaDB with its own data folder, port and a password user for TCP (run as root;
    ``extra_args``: more server options, e.g. TLS)."""
    datadir = base_dir / "mariadb"
    datadir.mkdir(parents=True)
    shutil.chown(base_dir, "mysql", "mysql")
    shutil.chown(datadir, "mysql", "mysql")
    subprocess.run(
        [
            mariadb_binary("mariadb-install-db"),
            "--user=mysql",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    sock = datadir / "mysqld.sock"
    cmd = [
        mariadb_binary("mariadbd"),
        "--no-defaults",
        "--user=mysql",
        f"--datadir={datadir}",
        f"--port={port}",
        f"--socket={sock}",
        "--bind-address=127.0.0.1",
        "--local-infile=1",
        "--innodb-buffer-pool-size=256M",
        "--innodb-flush-log-at-trx-commit=2",
        "--skip-log-bin",
        "--max-connections=300",
        *extra_args,
    ]
    ping = [mariadb_binary("mariadb-admin"), f"--socket={sock}", "-uroot", "ping"]
    with running(
        cmd,
        ready=lambda: subprocess.run(ping, capture_output=True).returncode == 0,
        what="MariaDB",
        timeout=60,
        log_path=base_dir / "mariadb.log",
    ):
        server = MariaDB("127.0.0.1", port, "readmission", secrets.token_urlsafe(16), sock)
        server.admin(
            f"CREATE USER '{server.user}'@'127.0.0.1' IDENTIFIED BY '{server.password}';"
            f"GRANT ALL PRIVILEGES ON *.* TO '{server.user}'@'127.0.0.1'; FLUSH PRIVILEGES;"
        )
        yield server
