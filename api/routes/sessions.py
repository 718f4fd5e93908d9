"""`/v1/sessions`: live dictation. Open a session, stream audio over its WebSocket, listen to its events."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Header, Query, Request, WebSocket
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import session_tokens
from api.deps import SessionServiceDep, SettingsDep
from api.errors import SessionEnded, error_responses
from api.guards import tenant_for
from api.schemas import SessionPublic
from api.session_relay import GONE, UNAVAILABLE, closing, event_id, look_every, session_events
from api.session_stream import SessionSocket
from api.stream_leases import Look, StreamLease
from api.submissions import SessionCreate
from core.errors import EndoScribeError, ErrorCode, NotFound, TooManyRequests, Unauthorized
from core.session_store import SessionState, SessionStatus, SessionStore
from core.settings import LiveSettings, Settings

router = APIRouter(prefix="/v1/sessions", tags=["live sessions"])

# Comment lines every so often keep proxies and load balancers from closing a quiet stream.
PING_SECONDS = 15
_WRITE = frozenset({session_tokens.WRITE})
_READ = frozenset({session_tokens.READ, session_tokens.WRITE})
"""The SSE stream takes either token (the writer reads its events anyway); the WebSocket only the write one."""


_WS_CLOSE: dict[str, int] = {ErrorCode.INVALID_TOKEN: 4401, ErrorCode.SESSION_ENDED: 4410,
                             ErrorCode.TOO_MANY_STREAMS: 4429, ErrorCode.INVALID_AFTER: 4400}
_REFUSED = ("the token is missing, malformed, expired, revoked or for another session; GET /v1/sessions/{id} "
            "with your API key gives fresh URLs")


def _sessions(request: Request | WebSocket) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


@router.post("", status_code=201, response_model=SessionPublic,
             responses=error_responses(400, 401, 422, 429, 503))
async def create_session(body: SessionCreate, sessions: SessionServiceDep) -> SessionPublic:
    """Open a live dictation session: connect to `stream_url` (a WebSocket) and send audio; it ends as a job."""
    return await sessions.open(body)


@router.get("/{session_id}", response_model=SessionPublic, responses=error_responses(401, 404, 429))
def read_session(session_id: str, sessions: SessionServiceDep) -> SessionPublic:
    """A session's status, with a fresh stream token (for a reconnect after the first one expired)."""
    return sessions.public(sessions.get(session_id))


@router.get("/{session_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "each event as `event: <type>`, `id: <event id>`, `data: <json>`; "
                                            "the stream ends after `ended`, or with an `error` event without "
                                            "an id (`session_gone`, `token_expired`, `unavailable`)"},
                       **error_responses(400, 401, 404, 429), **error_responses(410)})
async def session_events_sse(
    session_id: str, request: Request, settings: SettingsDep,
    token: Annotated[str, Query()] = "",
    last_event_id: Annotated[str, Header()] = "",
    after: Annotated[str, Query()] = "0",
) -> EventSourceResponse:
    """The session's events as Server-Sent Events (its `events_url` token, or an API key), until `ended`.
    A stream opened with a token ends `token_grace_seconds` after the token expires (`token_expired`)."""
    start = event_id(last_event_id or after)
    state = await _authorize(request, settings, session_id, token)
    live = settings.live
    lease = await _take_lease(request.app.state.redis, live, state, writer=False)
    expires = session_tokens.expiry(token) + live.token_grace_seconds if token else None

    async def look() -> dict[str, Any] | None:
        if expires is not None and time.time() > expires:
            return closing(ErrorCode.TOKEN_EXPIRED, "the token of this stream has expired; GET /v1/sessions/{id} "
                                                    "gives a fresh events_url (connect with Last-Event-ID to go on)")
        found = await run_in_threadpool(lease.look)
        return GONE if found == Look.GONE else None

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            async for event in session_events(request.app.state.async_redis, session_id, start, look,
                                              look_every(lease)):
                yield ServerSentEvent(json.dumps(event), event=event["type"], id=event.get("id"))
        finally:
            await run_in_threadpool(lease.give_back)

    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})


@router.websocket("/{session_id}/stream")
async def session_stream(websocket: WebSocket, session_id: str, token: str = "", after: str = "0") -> None:
    """Audio in, events out (see `api.session_stream` for the protocol)."""
    await websocket.accept()
    app = websocket.app
    live: LiveSettings = app.state.settings.live
    try:
        state, lease = await _open_writer(websocket, session_id, token, after, live)
    except EndoScribeError as exc:
        await websocket.send_text(json.dumps(closing(exc.code, exc.message)))
        await websocket.close(_WS_CLOSE.get(exc.code, 4400))
        return
    except redis.RedisError:
        await websocket.send_text(json.dumps(UNAVAILABLE))
        await websocket.close(1013)
        return
    try:
        await SessionSocket(websocket, state, _sessions(websocket), app.state.async_redis, app.state.celery,
                            live, lease, app.state.settings.quota).run(event_id(after))
    finally:
        with contextlib.suppress(redis.RedisError):
            await run_in_threadpool(lease.give_back)


async def _open_writer(websocket: WebSocket, session_id: str, token: str, after: str,
                       live: LiveSettings) -> tuple[SessionState, StreamLease]:
    """Check a WebSocket's `after` and write token, count it against its key and make it the session's
    writer; the session as it is now (its next chunk), and the lease to give back."""
    event_id(after)
    if not session_tokens.verify(websocket.app.state.token_key, session_id, token, _WRITE):
        raise Unauthorized(_REFUSED, code=ErrorCode.INVALID_TOKEN)
    state = await _open_session(_sessions(websocket), session_id)
    lease = await _take_lease(websocket.app.state.redis, live, state, writer=True)
    # Read again now that this connection is the writer: a chunk the last writer stored meanwhile counts.
    fresh = await run_in_threadpool(_sessions(websocket).get, session_id)
    if fresh is None:
        await run_in_threadpool(lease.give_back)
        raise Unauthorized(_REFUSED, code=ErrorCode.INVALID_TOKEN)
    return fresh, lease


async def _open_session(sessions: SessionStore, session_id: str) -> SessionState:
    """The session a valid token names, if its tokens still stand: not once it is gone or has ended."""
    state = await run_in_threadpool(sessions.get, session_id)
    if state is None:
        raise Unauthorized(_REFUSED, code=ErrorCode.INVALID_TOKEN)
    if state.status == SessionStatus.ENDED:
        raise SessionEnded(f"the session has ended and its tokens with it; its audio is job {state.meta.job_id} "
                           f"(GET /v1/jobs/{state.meta.job_id}/result with your API key)")
    return state


async def _take_lease(client: redis.Redis, live: LiveSettings, state: SessionState, writer: bool) -> StreamLease:
    lease = StreamLease(client, state.meta.tenant, state.meta.id, live.stream_lease_seconds, writer=writer)
    held = await run_in_threadpool(lease.take, live.max_streams_per_key)
    if held is not None:
        raise TooManyRequests(f"this key has {held} session streams open; the limit is {live.max_streams_per_key} "
                              "— close one first", retry_after=5, code=ErrorCode.TOO_MANY_STREAMS)
    return lease


async def _authorize(request: Request, settings: Settings, session_id: str, token: str) -> SessionState:
    if token:
        if not session_tokens.verify(request.app.state.token_key, session_id, token, _READ):
            raise Unauthorized(_REFUSED, code=ErrorCode.INVALID_TOKEN)
        return await _open_session(_sessions(request), session_id)
    tenant = tenant_for(request.headers.get("authorization"), settings.api_keys)
    state = await run_in_threadpool(_sessions(request).get, session_id)
    if state is None or state.meta.tenant != tenant:
        raise NotFound(f"no live session with id {session_id}")
    return state
