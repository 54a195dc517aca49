"""Process supervision (`readmission.supervisor`): free loopback ports, never handed out twice."""

from __future__ import annotations

import socket

import pytest

from readmission import supervisor

pytestmark = pytest.mark.unit


def test_a_free_default_port_is_kept_and_a_taken_one_replaced() -> None:
    port = supervisor.free_port()
    assert supervisor.choose_port(port, "x", set()) == port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        other = supervisor.choose_port(taken, "x", set())
    assert other != taken


def test_a_port_is_never_handed_out_twice() -> None:
    handed: set[int] = set()
    port = supervisor.free_port()
    assert supervisor.choose_port(port, "a", handed) == port
    assert supervisor.choose_port(port, "b", handed) != port
