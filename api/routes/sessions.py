"""`/v1/sessions`: live dictation. Open a session, stream audio over its WebSocket, listen to its events."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, Header, Query, Request, WebSocket
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import session_service, session_tokens, urls
from api.callbacks import build_callback
from api.deps import CeleryDep, OwnerDep, QuotasDep, SettingsDep
from api.guards import owner_for
from api.session_relay import GONE, UNAVAILABLE, closing, event_id, look_every, session_events
from api.session_stream import SessionSocket
from api.stream_leases import Look, StreamLease
from core.errors import EndoScribeError, NotFound, TooManyRequests, Unauthorized
from core.jobs import ERROR_DESCRIPTIONS, ErrorBody, JobOptions
from core.session_store import SessionState, SessionStatus, SessionStore
from core.settings import LiveSettings, Settings
from core.vocabulary import PhraseText, VocabularyInvalid, VocabularyPhrase, check_note_type, parse_vocabulary
from core.vocabulary_store import VocabularyStore

router = APIRouter(prefix="/v1/sessions", tags=["live sessions"])

# Comment lines every so often keep proxies and load balancers from closing a quiet stream.
PING_SECONDS = 15
VOCABULARY_MAX_CHARS = 50_000
"""A session's `vocabulary` as JSON, at most: the length `POST /v1/jobs` allows its `vocabulary` field."""
_WRITE = frozenset({session_tokens.WRITE})
_READ = frozenset({session_tokens.READ, session_tokens.WRITE})
"""The SSE stream takes either token (the writer reads its events anyway); the WebSocket only the write one."""


class SessionEnded(EndoScribeError):
    code = "session_ended"
    http_status = 410


_GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorBody, "description": "the session has ended (its tokens with it): its audio is a job"}}
_WS_CLOSE = {"invalid_token": 4401, "session_ended": 4410, "too_many_streams": 4429, "invalid_after": 4400}
_REFUSED = ("the token is missing, malformed, expired, revoked or for another session; GET /v1/sessions/{id} "
            "with your API key gives fresh URLs")


class SessionCreate(BaseModel):
    """The job options a session's text and its final job use (as `POST /v1/jobs` takes them)."""

    language: str | None = Field(default=None, max_length=16)
    initial_prompt: str | None = Field(default=None, max_length=2000)
    hotwords: str | None = Field(default=None, max_length=2000)
    callback_url: str | None = Field(default=None, max_length=2000, description="POSTed to when the job ends")
    callback_format: Literal["thin", "full", "fhir"] = "thin"
    callback_auth_header_name: str | None = Field(default=None, max_length=64)
    callback_auth_header_value: str | None = Field(default=None, max_length=4096)
    note_type: str | None = Field(default=None, description="the built-in vocabulary, dictation formatting and "
                                                            "the FHIR note type, as for jobs")
    formatting: Literal["none", "dictation"] | None = None
    # The phrase shapes, bounded as a job's (count here; size below, as the JSON a job would send).
    vocabulary: list[VocabularyPhrase | PhraseText] | None = Field(
        default=None, max_length=1000, description='phrases: "term" or {"phrase", "sounds_like": [...], '
                                                   '"display_as"}, as for jobs')
    vocabulary_id: str | None = Field(default=None, max_length=64)
    patient_reference: str | None = Field(default=None, max_length=128)
    encounter_reference: str | None = Field(default=None, max_length=128)


class SessionPublic(BaseModel):
    """A session, with fresh URLs: `stream_url` and `events_url` carry a token valid until `token_expires_at`."""

    id: str
    status: str
    job_id: str
    stream_url: str
    events_url: str
    result_url: str
    """The result of the job the session becomes when it ends."""
    token_expires_at: datetime
    audio_seconds: float


def _sessions(request: Request | WebSocket) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


def _base_url(request: Request, settings: Settings) -> str:
    return urls.base_url(request, settings)


def _public(request: Request, settings: Settings, state: SessionState) -> SessionPublic:
    base = _base_url(request, settings).rstrip("/")
    seconds = settings.live.token_seconds
    key = request.app.state.token_key
    token = session_tokens.issue(key, state.meta.id, seconds, scope=session_tokens.WRITE)
    read_token = session_tokens.issue(key, state.meta.id, seconds, scope=session_tokens.READ)
    stream_url, events_url = session_service.session_urls(base, state.meta.id, token, read_token)
    return SessionPublic(id=state.meta.id, status=state.status.value, job_id=state.meta.job_id,
                         stream_url=stream_url, events_url=events_url,
                         result_url=f"{base}/v1/jobs/{state.meta.job_id}/result",
                         token_expires_at=datetime.fromtimestamp(int(token.split(".")[0]), UTC),
                         audio_seconds=round(state.audio_seconds, 3))


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


@router.post("", status_code=201, response_model=SessionPublic, responses=_errors(400, 401, 422, 429, 503))
async def create_session(
    request: Request, body: SessionCreate, settings: SettingsDep, celery: CeleryDep, quotas: QuotasDep,
    owner: OwnerDep,
) -> SessionPublic:
    """Open a live dictation session: connect to `stream_url` (a WebSocket) and send audio; it ends as a job."""
    limits = settings.worker.vocabulary
    phrases = parse_vocabulary(_vocabulary_json(body), limits.max_phrases)
    if body.vocabulary_id:
        stored = VocabularyStore(request.app.state.redis, limits.max_custom_vocabularies, limits.max_phrases)
        found = await run_in_threadpool(stored.phrases_for_job, owner, body.vocabulary_id)
        phrases = [*(phrases or []), *found]
    options = JobOptions(language=body.language or None, initial_prompt=body.initial_prompt or None,
                         hotwords=body.hotwords or None, note_type=check_note_type(body.note_type or None),
                         formatting=body.formatting, vocabulary=phrases)
    callback = None
    if body.callback_url:
        callback = await run_in_threadpool(
            build_callback, settings.webhook, body.callback_url, body.callback_format,
            body.callback_auth_header_name, body.callback_auth_header_value, body.note_type,
            body.patient_reference, body.encounter_reference, owner)
    sessions = _sessions(request)
    meta = await run_in_threadpool(session_service.create_session, sessions, quotas, settings.live, celery, owner,
                                   options, callback, _base_url(request, settings))
    state = await run_in_threadpool(session_service.get_session, sessions, meta.id, owner)
    return _public(request, settings, state)


def _vocabulary_json(body: SessionCreate) -> str | None:
    """The vocabulary as a job's `vocabulary` field would carry it, held to that field's length."""
    if not body.vocabulary:
        return None
    raw = json.dumps([p.model_dump(exclude_defaults=True) if isinstance(p, VocabularyPhrase) else p
                      for p in body.vocabulary])
    if len(raw) > VOCABULARY_MAX_CHARS:
        raise VocabularyInvalid(f"vocabulary is {len(raw)} characters as JSON; the limit is {VOCABULARY_MAX_CHARS} "
                                "(or store it with POST /v1/vocabularies and send vocabulary_id)")
    return raw


@router.get("/{session_id}", response_model=SessionPublic, responses=_errors(401, 404, 429))
def read_session(session_id: str, request: Request, settings: SettingsDep, owner: OwnerDep) -> SessionPublic:
    """A session's status, with a fresh stream token (for a reconnect after the first one expired)."""
    return _public(request, settings, session_service.get_session(_sessions(request), session_id, owner))


@router.get("/{session_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "each event as `event: <type>`, `id: <event id>`, `data: <json>`; "
                                            "the stream ends after `ended`, or with an `error` event without "
                                            "an id (`session_gone`, `token_expired`, `unavailable`)"},
                       **_errors(400, 401, 404, 429), **_GONE})
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
            return closing("token_expired", "the token of this stream has expired; GET /v1/sessions/{id} gives a "
                                            "fresh events_url (connect with Last-Event-ID to go on)")
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
        await websocket.send_text(json.dumps({"type": "error", **exc.as_dict()}))
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
        raise Unauthorized(_REFUSED, code="invalid_token")
    state = await _open_session(_sessions(websocket), session_id)
    lease = await _take_lease(websocket.app.state.redis, live, state, writer=True)
    # Read again now that this connection is the writer: a chunk the last writer stored meanwhile counts.
    fresh = await run_in_threadpool(_sessions(websocket).get, session_id)
    if fresh is None:
        await run_in_threadpool(lease.give_back)
        raise Unauthorized(_REFUSED, code="invalid_token")
    return fresh, lease


async def _open_session(sessions: SessionStore, session_id: str) -> SessionState:
    """The session a valid token names, if its tokens still stand: not once it is gone or has ended."""
    state = await run_in_threadpool(sessions.get, session_id)
    if state is None:
        raise Unauthorized(_REFUSED, code="invalid_token")
    if state.status == SessionStatus.ENDED:
        raise SessionEnded(f"the session has ended and its tokens with it; its audio is job {state.meta.job_id} "
                           f"(GET /v1/jobs/{state.meta.job_id}/result with your API key)")
    return state


async def _take_lease(client: redis.Redis, live: LiveSettings, state: SessionState, writer: bool) -> StreamLease:
    lease = StreamLease(client, state.meta.owner, state.meta.id, live.stream_lease_seconds, writer=writer)
    held = await run_in_threadpool(lease.take, live.max_streams_per_key)
    if held is not None:
        raise TooManyRequests(f"this key has {held} session streams open; the limit is {live.max_streams_per_key} "
                              "— close one first", retry_after=5, code="too_many_streams")
    return lease


async def _authorize(request: Request, settings: Settings, session_id: str, token: str) -> SessionState:
    if token:
        if not session_tokens.verify(request.app.state.token_key, session_id, token, _READ):
            raise Unauthorized(_REFUSED, code="invalid_token")
        return await _open_session(_sessions(request), session_id)
    owner = owner_for(request.headers.get("authorization"), settings.api_keys)
    state = await run_in_threadpool(_sessions(request).get, session_id)
    if state is None or state.meta.owner != owner:
        raise NotFound(f"no live session with id {session_id}")
    return state
