"""What the session routes do, as plain functions over the session store, the quotas and the queue."""

from __future__ import annotations

import logging
import time

from celery import Celery

from api.quotas import Quotas
from core import keys
from core.errors import NotFound, TooManyRequests
from core.jobs import JobOptions
from core.session_store import SessionMeta, SessionState, SessionStore, new_session_id
from core.settings import LiveSettings
from core.webhook_store import WebhookConfig

log = logging.getLogger("endoscribe.api")


def session_urls(base_url: str, session_id: str, token: str, read_token: str) -> tuple[str, str]:
    """The WebSocket URL of a session with its write token, and its SSE URL with its read-only one."""
    base = base_url.rstrip("/")
    ws_base = "wss://" + base.removeprefix("https://") if base.startswith("https://") else \
        "ws://" + base.removeprefix("http://")
    return (f"{ws_base}/v1/sessions/{session_id}/stream?token={token}",
            f"{base}/v1/sessions/{session_id}/events?token={read_token}")


def create_session(
    sessions: SessionStore, quotas: Quotas, settings: LiveSettings, celery: Celery, owner: str,
    options: JobOptions, callback: WebhookConfig | None, base_url: str,
) -> SessionMeta:
    """Open a session for `owner` (its job quotas apply, and its open-session limit), and wake a worker."""
    quotas.check_submission(owner)
    meta = SessionMeta(id=new_session_id(), owner=owner, options=options, callback=callback,
                       job_id=new_session_id(), created_at=time.time(), base_url=base_url)
    open_now = sessions.create(meta, settings.max_sessions_per_key)
    if open_now is not None:
        raise TooManyRequests(
            f"this key has {open_now} live sessions open; the limit is {settings.max_sessions_per_key} — end one "
            "(send {\"type\": \"end\"}) first", retry_after=settings.idle_timeout_seconds, code="too_many_sessions")
    wake_worker(celery)
    return meta


def get_session(sessions: SessionStore, session_id: str, owner: str) -> SessionState:
    state = sessions.get(session_id)
    if state is None or state.meta.owner != owner:
        raise NotFound(f"no live session with id {session_id}")
    return state


def wake_worker(celery: Celery) -> None:
    """Send the task that makes an idle worker serve sessions nobody holds (a busy one takes them between
    batches anyway); no argument, so nothing about the session reaches the broker."""
    try:
        celery.send_task(keys.LIVE_TASK, queue=keys.TRANSCRIBE_QUEUE)
    except Exception:  # noqa: BLE001 - a worker in a round takes the session anyway; the next chunk retries
        log.warning("could not send the live-session task; retrying with the next chunks")
