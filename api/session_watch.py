"""What a live session's connection watches besides its client's messages: that a worker serves the
session (`Waker`), and that Redis has room for its audio (`RoomGuard`)."""

from __future__ import annotations

import time

from celery import Celery
from starlette.concurrency import run_in_threadpool

from api import session_service
from core.errors import Overloaded
from core.redis_safety import check_room_to_store
from core.session_store import BYTES_PER_SECOND, SessionStore
from core.settings import LiveSettings, QuotaSettings

ROOM_CHECK_SECONDS = 1.0
"""How often a connection asks Redis whether it has room for more audio (the memory guard)."""
WAKE_EVERY_SECONDS = 2.0
"""How often a connection checks that a worker serves its session (and wakes one if not)."""


class RoomGuard:
    """The memory guard, as for every write that stores data: judged at most once a second (an INFO per
    chunk would cost Redis more than the chunk)."""

    def __init__(self, sessions: SessionStore, quota: QuotaSettings | None) -> None:
        self.sessions = sessions
        self.quota = quota
        self.checked_at = -ROOM_CHECK_SECONDS
        self.full: str | None = None
        """The refusal as last judged (None: room to store)."""

    async def judge(self) -> str | None:
        if self.quota is None or time.monotonic() - self.checked_at < ROOM_CHECK_SECONDS:
            return self.full
        self.checked_at = time.monotonic()
        try:
            await run_in_threadpool(check_room_to_store, self.sessions.redis, self.quota, "new live audio")
            self.full = None
        except Overloaded as exc:
            self.full = exc.message
        return self.full


class Waker:
    """Sees that a worker serves the session, and tells its client when none has for a while."""

    def __init__(self, celery: Celery, sessions: SessionStore, session_id: str, settings: LiveSettings) -> None:
        self.celery = celery
        self.sessions = sessions
        self.id = session_id
        self.settings = settings
        self.checked_at = 0.0
        self.unserved_since: float | None = None
        self.lag_told_at = 0.0

    async def if_unserved(self) -> None:
        """Wake a worker when none serves the session; past `lag_seconds` unserved, tell the client
        (a `lagging` event with the audio waiting) instead of storing its audio in silence."""
        now = time.monotonic()
        if now - self.checked_at < min(WAKE_EVERY_SECONDS, self.settings.tuning.lag_seconds / 2):
            return
        self.checked_at = now
        if await run_in_threadpool(self.sessions.is_served, self.id):
            self.unserved_since = None
            return
        await self.wake()
        if self.unserved_since is None:
            self.unserved_since = now
        elif min(now - self.unserved_since, now - self.lag_told_at) >= self.settings.tuning.lag_seconds:
            self.lag_told_at = now
            state = await run_in_threadpool(self.sessions.get, self.id)
            if state is not None:
                waiting = (state.audio_bytes - state.committed_bytes) / BYTES_PER_SECOND
                await run_in_threadpool(self.sessions.emit, self.id,
                                        {"type": "lagging", "delay": round(waiting, 1), "reason": "no_worker"})

    async def wake(self) -> None:
        await run_in_threadpool(session_service.wake_worker, self.celery, self.sessions)
