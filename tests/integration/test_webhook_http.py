"""The attempt's HTTP client against misbehaving loopback receivers: hard deadline, body never read."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from webhooks.http import post


@pytest.fixture()
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    sockets: list[socket.socket] = []

    def serve(behaviour: Callable[[socket.socket], None]) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        sockets.append(srv)

        def run() -> None:
            conn, _ = srv.accept()
            conn.recv(65536)
            try:
                behaviour(conn)
            except OSError:
                pass
            finally:
                conn.close()

        threading.Thread(target=run, daemon=True).start()
        return f"http://127.0.0.1:{srv.getsockname()[1]}/hook"

    yield serve
    for s in sockets:
        s.close()


def test_a_trickling_receiver_cannot_hold_an_attempt_past_its_deadline(raw_server) -> None:  # type: ignore[no-untyped-def]
    def trickle(conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            conn.send(bytes([byte]))
            time.sleep(0.2)  # each byte well inside the per-read timeout

    url = raw_server(trickle)
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        post(url, b"{}", {}, None, timeout=1.0)
    assert time.monotonic() - started < 1.5


def test_the_response_body_is_not_read(raw_server) -> None:  # type: ignore[no-untyped-def]
    def huge_slow_body(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
        for _ in range(50):
            conn.sendall(b"x" * 1000)
            time.sleep(0.1)  # a body that trickles for 5 s

    url = raw_server(huge_slow_body)
    started = time.monotonic()
    answer = post(url, b"{}", {}, None, timeout=3.0)
    assert answer.status_code == 200
    assert time.monotonic() - started < 1.0
