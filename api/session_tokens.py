"""Stream tokens: what lets a browser open one session's WebSocket (it cannot send an API key header).

A token is `<expiry epoch>.<HMAC-SHA256(key, "<session id>.<expiry>")>`: bound to one session, short-lived,
and checkable by any API replica without a lookup. The key is `ENDOSCRIBE_LIVE_TOKEN_SECRET`, or else a
random one made once in Redis (so replicas agree without configuration).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import redis

from core import keys
from core.settings import LiveSettings


def token_key(client: redis.Redis, settings: LiveSettings) -> bytes:
    if settings.token_secret:
        return settings.token_secret.encode()
    client.set(keys.LIVE_TOKEN_SECRET, secrets.token_hex(32), nx=True)
    stored = client.get(keys.LIVE_TOKEN_SECRET)
    assert isinstance(stored, bytes)
    return stored


def issue(key: bytes, session_id: str, seconds: int, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + seconds
    return f"{expires}.{_mac(key, session_id, expires)}"


def verify(key: bytes, session_id: str, token: str, now: float | None = None) -> bool:
    """True if `token` was issued for `session_id` and has not expired."""
    expires, _, mac = token.partition(".")
    if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(key, session_id, int(expires)))


def _mac(key: bytes, session_id: str, expires: int) -> str:
    return hmac.new(key, f"{session_id}.{expires}".encode(), hashlib.sha256).hexdigest()
