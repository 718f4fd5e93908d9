"""What the session routes do, as plain functions over the session store, the quotas and the queue."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

import redis
from celery import Celery
from starlette.concurrency import run_in_threadpool

from api.quotas import Quotas
from core import keys
from core.audio_store import AudioStore
from core.errors import ErrorCode, NotFound, TooManyRequests
from core.job_store import JobStore
from core.jobs import JobOptions
from core.session_store import SessionMeta, SessionState, SessionStatus, SessionStore, new_session_id
from core.settings import LiveSettings
from core.webhook_records import WebhookConfig

log = logging.getLogger("endoscribe.api")

WAKE_PERIOD_SECONDS = 1.5
"""At most one live task per this long from all API processes together: the task carries no session, and
the worker it wakes takes every session nobody serves, so a burst of chunks or connections needs one."""
END_LEASE_SECONDS = 120.0
"""How long the API holds an ending session it makes a job of (its audio is put meanwhile): a process
that dies doing so lets another try after this."""
SWEEP_EVERY_SECONDS = 1.0


def create_session(
    sessions: SessionStore, quotas: Quotas, settings: LiveSettings, celery: Celery, tenant: str,
    options: JobOptions, callback: WebhookConfig | None, base_url: str,
) -> SessionMeta:
    """Open a session for `tenant` (its job quotas apply, and its open-session limit), and wake a worker."""
    quotas.check_submission(tenant)
    meta = SessionMeta(id=new_session_id(), tenant=tenant, options=options, callback=callback,
                       job_id=new_session_id(), created_at=time.time(), base_url=base_url)
    open_now = sessions.create(meta, settings.max_sessions_per_key)
    if open_now is not None:
        raise TooManyRequests(
            f"this key has {open_now} live sessions open; the limit is {settings.max_sessions_per_key} — end one "
            "(send {\"type\": \"end\"}) first", retry_after=settings.idle_timeout_seconds,
            code=ErrorCode.TOO_MANY_SESSIONS)
    wake_worker(celery, sessions)
    return meta


def get_session(sessions: SessionStore, session_id: str, tenant: str) -> SessionState:
    state = sessions.get(session_id)
    if state is None or state.meta.tenant != tenant:
        raise NotFound(f"no live session with id {session_id}")
    return state


class _WakeClock:
    """When this process last sent the live task: a burst is stopped here before it reaches Redis."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent_at = -WAKE_PERIOD_SECONDS

    def due(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if now - self.sent_at < WAKE_PERIOD_SECONDS:
                return False
            self.sent_at = now
            return True


_wake_clock = _WakeClock()


def wake_worker(celery: Celery, sessions: SessionStore | None = None) -> None:
    """Send the task that makes an idle worker serve sessions nobody holds (a busy one takes them between
    batches anyway); no argument, so nothing about the session reaches the broker. Once per
    `WAKE_PERIOD_SECONDS` per process, and (given `sessions`) across every API process."""
    if not _wake_clock.due():
        return
    try:
        if sessions is not None and not sessions.claim_wake(WAKE_PERIOD_SECONDS):
            return
        celery.send_task(keys.LIVE_TASK, queue=keys.TRANSCRIBE_QUEUE)
    except Exception:  # noqa: BLE001 - a worker in a round takes the session anyway; the next chunk retries
        log.warning("could not send the live-session task; retrying with the next chunks")


# ---- sessions no worker ends -----------------------------------------------------------------------


def sweep_holder() -> str:
    """This process's name as a session lease's holder."""
    return f"api:{socket.gethostname()}/{os.getpid()}"


def end_stranded_sessions(sessions: SessionStore, jobs: JobStore, audio: AudioStore, settings: LiveSettings,
                          now: float | None = None) -> list[str]:
    """Make a job of every ending session no worker took within `end_grace_seconds` (no worker alive, or
    all busy), and ask the end of every open one nobody serves or feeds past its idle timeout (its client
    went away uncleanly while no worker served it). Turning a session into a job needs no model, so the
    API does it: acknowledged audio never waits on a worker to be kept. Returns the jobs made."""
    now = time.time() if now is None else now
    holder = sweep_holder()
    made = []
    for session_id in sessions.ending_since(now - settings.end_grace_seconds):
        if not sessions.claim(session_id, holder, END_LEASE_SECONDS):
            continue  # its worker makes the last final, then the job
        try:
            job_id = sessions.end_as_job(session_id, jobs, audio)
        except redis.RedisError:
            raise
        except Exception as exc:  # noqa: BLE001 - the audio store failed: the session waits, its audio kept
            log.warning("session %s: could not put its audio for its job yet (%s); trying again", session_id,
                        exc.__class__.__name__)
            continue
        finally:
            sessions.release(session_id, holder)
        if job_id is None:
            sessions.forget(session_id)  # expired or erased: nothing left to make a job of
            continue
        log.warning("session %s: no worker ended it; made job %s of its audio", session_id, job_id)
        made.append(job_id)
    for session_id in sessions.unserved():
        state = sessions.get(session_id)
        if state is None or state.status is not SessionStatus.OPEN:
            continue
        if now - state.last_audio_at > settings.idle_timeout_seconds and \
                sessions.request_end(session_id, "idle_timeout"):
            sessions.emit(session_id, {"type": "error", "code": ErrorCode.IDLE_TIMEOUT, "message": (
                f"no audio for {settings.idle_timeout_seconds:g} s; the session ends and its audio becomes a job")})
    return made


def start_session_sweep(sessions: SessionStore, jobs: JobStore, audio: AudioStore,
                        settings: LiveSettings) -> asyncio.Task[None]:
    """Run `end_stranded_sessions` every second in this API process (one process at a time does the
    work) until its event loop ends; call from the lifespan and keep the task."""

    def once() -> None:
        if sessions.redis.set(keys.SESSION_SWEEP_LEASE, sweep_holder(), nx=True,
                              px=int(SWEEP_EVERY_SECONDS * 1000)):
            end_stranded_sessions(sessions, jobs, audio, settings)

    async def loop() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_SECONDS)
            try:
                await run_in_threadpool(once)
            except Exception as exc:  # noqa: BLE001 - the next second tries again (Redis down, say)
                log.warning("session sweep failed (%s)", exc.__class__.__name__)

    return asyncio.get_running_loop().create_task(loop(), name="session-sweep")
