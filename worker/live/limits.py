"""A served session's bounds: it ends when it goes quiet or has been open too long, and its client is told
when the worker falls behind its audio."""

from __future__ import annotations

from core.session_store import SessionState, SessionStore
from core.settings import LiveSettings
from worker.live.session import HeldSession


def enforce(store: SessionStore, settings: LiveSettings, session: HeldSession, state: SessionState,
            now: float) -> SessionState:
    """End an open session gone quiet (no audio for the idle timeout) or open too long (wall clock)."""
    if now - session.grew_at > settings.idle_timeout_seconds:
        code, message = "idle_timeout", f"no audio for {settings.idle_timeout_seconds:g} s"
    elif now - state.meta.created_at > settings.max_session_wall_seconds:
        code, message = "session_too_long", (f"the session has been open for its limit of "
                                             f"{settings.max_session_wall_seconds:g} s")
    else:
        return state
    if store.request_end(session.id, code):
        store.emit(session.id, {"type": "error", "code": code, "message": (
            f"{message}; the session ends and its audio becomes a job")})
    return store.get(session.id) or state


def tell_lag(store: SessionStore, settings: LiveSettings, session: HeldSession, waiting: float, now: float) -> None:
    """Audio that came in since this worker last looked is what it is behind by."""
    if waiting > settings.tuning.lag_seconds and now - session.lag_told_at > settings.tuning.lag_seconds:
        session.lag_told_at = now
        store.emit(session.id, {"type": "lagging", "delay": round(waiting, 1), "reason": "behind"})
