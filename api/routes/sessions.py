"""`/v1/sessions`: live dictation. Open a session, stream audio over its WebSocket, listen to its events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, WebSocket
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import session_service, session_tokens, urls
from api.callbacks import build_callback
from api.deps import CeleryDep, OwnerDep, QuotasDep, SettingsDep
from api.guards import owner_for
from api.session_stream import SessionSocket, session_events
from core.errors import NotFound, Unauthorized
from core.jobs import ERROR_DESCRIPTIONS, ErrorBody, JobOptions
from core.session_store import SessionState, SessionStore
from core.settings import Settings
from core.vocabulary import check_note_type, parse_vocabulary
from core.vocabulary_store import VocabularyStore

router = APIRouter(prefix="/v1/sessions", tags=["live sessions"])

# Comment lines every so often keep proxies and load balancers from closing a quiet stream.
PING_SECONDS = 15


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
    vocabulary: list[str | dict[str, Any]] | None = Field(
        default=None, description='phrases: "term" or {"phrase", "sounds_like": [...], "display_as"}')
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
    token = session_tokens.issue(request.app.state.token_key, state.meta.id, seconds)
    stream_url, events_url = session_service.session_urls(base, state.meta.id, token)
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
    phrases = parse_vocabulary(json.dumps(body.vocabulary) if body.vocabulary else None, limits.max_phrases)
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


@router.get("/{session_id}", response_model=SessionPublic, responses=_errors(401, 404, 429))
def read_session(session_id: str, request: Request, settings: SettingsDep, owner: OwnerDep) -> SessionPublic:
    """A session's status, with a fresh stream token (for a reconnect after the first one expired)."""
    return _public(request, settings, session_service.get_session(_sessions(request), session_id, owner))


@router.get("/{session_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "each event as `event: <type>`, `id: <event id>`, `data: <json>`; "
                                            "the stream ends after `ended`"},
                       **_errors(401, 404)})
async def session_events_sse(
    session_id: str, request: Request, settings: SettingsDep,
    token: Annotated[str, Query()] = "", last_event_id: Annotated[str, Header()] = "",
    after: Annotated[str, Query()] = "0",
) -> EventSourceResponse:
    """The session's events as Server-Sent Events (its stream token, or an API key), until `ended`."""
    await _authorize(request, settings, session_id, token)

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for event in session_events(request.app.state.async_redis, session_id, last_event_id or after):
            yield ServerSentEvent(json.dumps(event), event=event["type"], id=event["id"])

    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})


@router.websocket("/{session_id}/stream")
async def session_stream(websocket: WebSocket, session_id: str, token: str = "", after: str = "0") -> None:
    """Audio in, events out (see `api.session_stream` for the protocol)."""
    await websocket.accept()
    app = websocket.app
    sessions = _sessions(websocket)
    state = await run_in_threadpool(sessions.get, session_id)
    if state is None or not session_tokens.verify(app.state.token_key, session_id, token):
        await websocket.send_text(json.dumps({"type": "error", "code": "invalid_token", "message": (
            "the stream token is missing, expired or for another session; GET /v1/sessions/{id} with your API "
            "key gives a fresh stream_url")}))
        await websocket.close(4401)
        return
    await SessionSocket(websocket, session_id, sessions, app.state.async_redis, app.state.celery,
                        app.state.settings.live).run(state.next_seq, after)


async def _authorize(request: Request, settings: Settings, session_id: str, token: str) -> None:
    if token:
        if not session_tokens.verify(request.app.state.token_key, session_id, token):
            raise Unauthorized("the stream token is missing, expired or for another session")
        return
    owner = owner_for(request.headers.get("authorization"), settings.api_keys)
    state = await run_in_threadpool(_sessions(request).get, session_id)
    if state is None or state.meta.owner != owner:
        raise NotFound(f"no live session with id {session_id}")
