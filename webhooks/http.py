"""The HTTP side of one delivery attempt: a fresh connection, a hard overall deadline, no body read.

httpx's timeout applies to each network operation, so a receiver trickling one byte at a time could
hold an attempt open indefinitely; here every read and write gets at most what is left of the
attempt's deadline. Each attempt also gets its own client: pooled connections are keyed by
scheme/IP/port only, and since attempts connect to checked IP addresses, a kept-alive connection
would let a later attempt for another host name skip TLS verification against its own name.
"""

from __future__ import annotations

import ssl
import time
import typing
from dataclasses import dataclass

import httpcore
import httpx
from httpcore._backends.sync import SyncBackend

USER_AGENT = "EndoScribe-Webhooks/1.0"


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, exc: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise exc("the attempt's overall deadline passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(SyncBackend):
    def __init__(self, deadline: float) -> None:
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the attempt's overall deadline passed")
        timeout = left if timeout is None else min(timeout, left)
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)


class _DeadlineTransport(httpx.HTTPTransport):
    def __init__(self, deadline: float) -> None:
        super().__init__(trust_env=False)
        # httpx 0.28 builds its httpcore pool in __init__ with no way to pass a network backend;
        # replace it with one that enforces the deadline and keeps no connection alive.
        # tests/integration/test_webhooks.py (trickling receiver) fails if this stops working.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_keepalive_connections=0,
            network_backend=_DeadlineBackend(deadline),
        )


@dataclass
class Answer:
    status_code: int
    headers: httpx.Headers


def post(url: str, body: bytes, headers: dict[str, str], sni_hostname: str | None, timeout: float) -> Answer:
    """POST once, reading only the status line and headers, all within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    extensions = {"sni_hostname": sni_hostname} if sni_hostname else {}
    with httpx.Client(transport=_DeadlineTransport(deadline), timeout=timeout, follow_redirects=False,
                      trust_env=False, headers={"user-agent": USER_AGENT}) as client:
        request = client.build_request("POST", url, content=body, headers=headers, extensions=extensions)
        # Streamed and closed unread: a receiver's response body is never pulled into memory.
        response = client.send(request, stream=True)
        response.close()
        return Answer(response.status_code, response.headers)
