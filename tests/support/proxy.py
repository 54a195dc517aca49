"""A tiny TCP proxy that injects network faults between a client and a real service (tests only).

Each new connection takes the next step of a script: ``pass`` (pipe bytes both ways),
``reset`` (close at once with a TCP reset), ``503`` (read the request head, answer HTTP 503,
close) or ``slow`` (hold the connection ``delay`` seconds, then pipe). When the script is used
up every connection passes. :meth:`down` resets the live connections and every new one until
:meth:`up`; ``down_after_puts`` goes down by itself on the N+1-th HTTP ``PUT``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from tests.support import services


@dataclass
class Event:
    at: float
    step: str


@dataclass
class FlakyProxy:
    upstream_port: int
    script: deque[str] = field(default_factory=deque)
    delay: float = 3.0
    down_after_puts: int | None = None
    events: list[Event] = field(default_factory=list)
    port: int = field(default_factory=services.free_port)
    puts: int = 0
    _down: bool = False
    _live: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FlakyProxy:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.down()
        self._server.close()

    def down(self) -> None:
        with self._lock:
            self._down = True
            live, self._live = list(self._live), set()
        for sock in live:
            _reset(sock)

    def up(self) -> None:
        with self._lock:
            self._down = False

    def steps(self) -> list[str]:
        return [event.step for event in self.events]

    # ----------------------------------------------------------------- internals

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                step = "down" if self._down else (self.script.popleft() if self.script else "pass")
            self.events.append(Event(time.monotonic(), step))
            threading.Thread(target=self._serve, args=(client, step), daemon=True).start()

    def _serve(self, client: socket.socket, step: str) -> None:
        if step in ("reset", "down"):
            _reset(client)
            return
        if step == "503":
            with contextlib.suppress(OSError):
                client.recv(65536)
                body = b'{"error": "injected fault: service unavailable"}'
                client.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
            client.close()
            return
        if step == "slow":
            time.sleep(self.delay)
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._live.update((client, upstream))
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_client and chunk.startswith(b"PUT ") and self.down_after_puts is not None:
                    self.puts += 1
                    if self.puts > self.down_after_puts:
                        self.events.append(Event(time.monotonic(), "down"))
                        self.down()
                        return
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with self._lock:
                    self._live.discard(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset by peer'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
