"""Stream tokens: what lets a browser open one session's streams (it cannot send an API key header).

A token is `<expiry epoch>.<scope>.<HMAC-SHA256(key, "<session id>.<scope>.<expiry>")>`: bound to one
session and one use, short-lived, and checkable by any API replica without a lookup. The scope is `w`
(`stream_url`: the WebSocket, which appends audio and reads events) or `r` (`events_url`: the SSE
stream, read only), so a leaked read URL cannot add audio to the clinical record. Ending the session
revokes both: the routes refuse a token whose session is no longer open or ending. The key is
`ENDOSCRIBE_LIVE_TOKEN_SECRET`, or else a random one made once in Redis (so replicas agree without
configuration).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import redis

from core import keys
from core.settings import LiveSettings

WRITE = "w"
READ = "r"
MAX_TOKEN_CHARS = 96
"""Longer than any token issued (12 + 1 + 1 + 1 + 64): refused before any parsing."""
# ASCII digits only (`str.isdigit` takes "²" and "٣", which `int` then refuses or reads), and few
# of them (`int` refuses more than 4,300): a malformed token is refused, never a 500.
_TOKEN = re.compile(r"([0-9]{1,12})\.([rw])\.([0-9a-f]{64})", re.ASCII)


def token_key(client: redis.Redis, settings: LiveSettings) -> bytes:
    if settings.token_secret:
        return settings.token_secret.encode()
    client.set(keys.LIVE_TOKEN_SECRET, secrets.token_hex(32), nx=True)
    stored = client.get(keys.LIVE_TOKEN_SECRET)
    assert isinstance(stored, bytes)
    return stored


def issue(key: bytes, session_id: str, seconds: int, now: float | None = None, scope: str = WRITE) -> str:
    expires = int(now if now is not None else time.time()) + seconds
    return f"{expires}.{scope}.{_mac(key, session_id, scope, expires)}"


def expiry(token: str) -> int:
    """The epoch second a well-formed token expires at (0 for a malformed one)."""
    found = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN_CHARS else None
    return int(found.group(1)) if found else 0


def verify(key: bytes, session_id: str, token: str, scopes: frozenset[str], now: float | None = None) -> bool:
    """True if `token` was issued for `session_id` with one of `scopes` and has not expired."""
    found = _TOKEN.fullmatch(token) if len(token) <= MAX_TOKEN_CHARS else None
    if found is None:
        return False
    expires, scope, mac = int(found.group(1)), found.group(2), found.group(3)
    if scope not in scopes or expires < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(mac, _mac(key, session_id, scope, expires))


def _mac(key: bytes, session_id: str, scope: str, expires: int) -> str:
    return hmac.new(key, f"{session_id}.{scope}.{expires}".encode("utf-8", "replace"), hashlib.sha256).hexdigest()
