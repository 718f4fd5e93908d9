"""One bound on every request body, judged from its headers and counted as it streams in.

FastAPI reads a JSON body whole before validating it, so without this one request could make the API
hold hundreds of MB. Uploads (`/v1/jobs`, `/v1/audio/transcriptions`) are bounded at their own,
larger, limit; every other route at `max_body_kb`.

A chunked body (no Content-Length) is refused with 411, as uploads are: a client that knows its JSON
knows its length, and the limit is then told before a byte of the body is sent. The count as bytes
arrive is the second line, for a server or proxy that hands on a body without its length.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import LengthRequired, reply_error
from api.guards import FORM_OVERHEAD_BYTES, SUBMISSION_PATHS
from core.errors import EndoScribeError, ErrorCode, PayloadTooLarge
from core.settings import Settings


class BodyTooLarge(PayloadTooLarge):
    code = ErrorCode.BODY_TOO_LARGE


class BodyLimit:
    """ASGI middleware: 413 `body_too_large` for a body over its route's limit, 411 for a chunked one."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, is_upload = self.limit_for(scope)
        try:
            check_declared(scope, limit, is_upload)
        except EndoScribeError as exc:
            await reply_error(send, exc)
            return
        guard = _CountedBody(receive, send, limit)
        try:
            await self.app(scope, guard.receive, guard.send)
        except _Refused:
            if not guard.started:
                await reply_error(send, guard.error)

    def limit_for(self, scope: Scope) -> tuple[int, bool]:
        """The route's limit in bytes, and whether it is an upload route."""
        if scope["method"] == "POST" and scope["path"].rstrip("/") in SUBMISSION_PATHS:
            return self.settings.max_upload_bytes + FORM_OVERHEAD_BYTES, True
        return self.settings.max_body_kb * 1000, False


def too_large(limit: int, size: int | None = None) -> BodyTooLarge:
    if size is None:
        return BodyTooLarge(f"the request body is over this route's limit of {limit // 1000} KB; send less")
    return BodyTooLarge(f"the request body is {size / 1000:.1f} KB; the limit is {limit // 1000} KB "
                        "(ENDOSCRIBE_MAX_BODY_KB) on this route")


def check_declared(scope: Scope, limit: int, is_upload: bool) -> None:
    """Refuse from the headers alone. An upload's declared size is judged by `RequestGuard`, with the
    upload's own message; here its chunked form is refused too, wherever the request goes."""
    headers = {k.lower(): v for k, v in scope["headers"] if k.lower() in (b"content-length", b"transfer-encoding")}
    declared = headers.get(b"content-length")
    if declared is None:
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            raise LengthRequired("send the request body with a Content-Length header (no chunked bodies)")
        return
    if not declared.isdigit():
        raise LengthRequired("the Content-Length header is not a number")
    if int(declared) > limit and not is_upload:
        raise too_large(limit, int(declared))


class _Refused(Exception):
    """Raised from `receive` once the body passes its limit."""


class _CountedBody:
    """The request's `receive`, counting body bytes, and its `send`, which swaps the app's answer to a
    refused body for the 413. The app turns the exception from `receive` into some error of its own
    (FastAPI: 400 "error parsing the body"); that is dropped, and the 413 goes out instead."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.received = 0
        self.refused = False
        self.started = False
        self.error = too_large(limit)

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                raise _Refused
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            if message["type"] == "http.response.start" and not self.started:
                self.started = True
                await reply_error(self._send, self.error)
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

