"""The body limit counts bytes as they arrive, for a body handed on without its length (no network)."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.body_limit import BodyLimit
from core.settings import Settings


async def reads_json(scope: Scope, receive: Receive, send: Send) -> None:
    try:
        body = await Request(scope, receive).body()
    except Exception:  # noqa: BLE001 - as a framework does: its own error answer, which the limit replaces
        await JSONResponse({"detail": "There was an error parsing the body"}, status_code=400)(scope, receive, send)
        return
    await JSONResponse({"read": len(body)})(scope, receive, send)


def call(pieces: list[bytes]) -> tuple[int, object]:
    limit = BodyLimit(reads_json, Settings(max_body_kb=1))
    incoming = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/vocabularies", "headers": [], "query_string": b""}
    asyncio.run(limit(scope, receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_a_body_without_a_length_is_cut_at_the_limit_with_413() -> None:
    status, body = call([b"x" * 600, b"x" * 600, b"x" * 10**6])
    assert (status, body) == (413, {"error": {"code": "body_too_large", "message": (
        "the request body is over this route's limit of 1 KB; send less")}})


def test_a_body_within_the_limit_reaches_the_route() -> None:
    assert call([b"x" * 600, b"x" * 400]) == (200, {"read": 1000})
