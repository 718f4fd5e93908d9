"""Checks that must run before a request body is read: the API key, the upload's declared size, and
the quotas and capacity that would refuse the request anyway.

FastAPI parses a multipart form before it resolves dependencies, so without this an anonymous
client could make the server spool any amount of data to disk before hearing 401 or 413.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

import redis
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import LengthRequired, reply_error
from api.quotas import Quotas
from core.errors import EndoScribeError, PayloadTooLarge, Unauthorized, Unavailable
from core.settings import Settings

log = logging.getLogger("endoscribe.api")

# Multipart framing and the small form fields around the file.
FORM_OVERHEAD_BYTES = 256 * 1024

# The routes that take an upload and submit a job: size and submission quotas are judged before their body.
SUBMISSION_PATHS = frozenset({"/v1/jobs", "/v1/audio/transcriptions"})

_SESSION_EVENTS = re.compile(r"/v1/sessions/[^/]+/events")


def tenant_for(authorization: str | None, api_keys: list[str]) -> str:
    """The caller's tenant (a digest of its key), "" when auth is off; raises Unauthorized."""
    if not api_keys:
        return ""
    scheme, _, token = (authorization or "").partition(" ")
    given = token.encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(given, key.encode()) for key in api_keys):
        raise Unauthorized("send a valid API key as 'Authorization: Bearer <key>'")
    return hashlib.sha256(given).hexdigest()[:32]


class _V1Guard:
    """ASGI middleware that judges each `/v1` request (but a session's SSE asked for with its token) before
    its body is read: `judge` raises to refuse it, with the error's envelope and status."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/") and not carries_stream_token(scope):
            try:
                await self.judge(scope)
            except EndoScribeError as exc:
                await reply_error(send, exc)
                return
        await self.app(scope, receive, send)

    async def judge(self, scope: Scope) -> None:
        raise NotImplementedError


class RequestGuard(_V1Guard):
    """Refuse unauthenticated or oversized `/v1` requests before their body."""

    async def judge(self, scope: Scope) -> None:
        self.check(scope)

    def check(self, scope: Scope) -> None:
        headers = _headers(scope)
        tenant_for(headers.get("authorization"), self.settings.api_keys)
        if scope["method"] == "POST" and scope["path"].rstrip("/") in SUBMISSION_PATHS:
            declared = headers.get("content-length")
            if declared is None:
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    raise LengthRequired("send the upload with a Content-Length header (no chunked uploads)")
                return  # no body at all: the route answers 422 (no file)
            limit = self.settings.max_upload_bytes
            if not declared.isdigit():
                raise LengthRequired("the Content-Length header is not a number")
            if int(declared) > limit + FORM_OVERHEAD_BYTES:
                raise PayloadTooLarge(f"the upload is {int(declared) / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB")


class QuotaGuard(_V1Guard):
    """Inside RequestGuard (so the key is valid): count each `/v1` request against its key's rate, and refuse
    a submission that capacity or the key's quotas refuse before its body is read. The exact in-flight check
    is the reservation made as the job is stored (`job_service.submit_job`)."""

    async def judge(self, scope: Scope) -> None:
        try:
            # Redis calls block: off the event loop, as the routes do.
            await run_in_threadpool(self.check, scope["app"].state.quotas, scope)
        except redis.RedisError:
            raise Unavailable("the job store is unreachable; retry in a moment") from None

    def check(self, quotas: Quotas, scope: Scope) -> None:
        headers = _headers(scope)
        tenant = tenant_for(headers.get("authorization"), self.settings.api_keys)
        try:
            quotas.count_request(tenant)
        except redis.RedisError as exc:
            # Counting is a write: a Redis at its memory ceiling refuses it. Reads must go on then (only
            # submissions are held back), and a Redis that is really gone fails the request further in.
            log.warning("request not counted against its rate: %s", exc.__class__.__name__)
        if scope["method"] == "POST" and scope["path"].rstrip("/") in SUBMISSION_PATHS:
            quotas.check_submission(tenant)


def carries_stream_token(scope: Scope) -> bool:
    """A session's SSE events asked for with its stream token instead of an API key (an `EventSource`
    cannot send headers): the route checks the token, which is bound to that one session. Only a real
    `token` parameter counts (`?xtoken=1` is no token), so nothing else skips the key and the rate."""
    if scope["method"] != "GET" or not _SESSION_EVENTS.fullmatch(scope["path"]):
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    return bool(QueryParams(query).get("token"))


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


