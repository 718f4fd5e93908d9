"""Leases in Redis: a key holding its holder's name with a TTL, renewed and released only by that holder.

Jobs (`JobStore`) and live sessions (`SessionStore`) are held this way by the worker running them; a
holder that dies lets its lease lapse, and whoever comes next takes the work over.
"""

from __future__ import annotations

import redis

from core.redis_calls import Lua

_RENEW_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
""")
_RELEASE_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")


def take(client: redis.Redis, key: str, holder: str, lease_seconds: float) -> bool:
    """Take the lease if nobody holds it; False when someone does."""
    return bool(client.set(key, holder, nx=True, px=int(lease_seconds * 1000)))


def renew(client: redis.Redis, key: str, holder: str, lease_seconds: float) -> bool:
    """Extend the lease if `holder` still holds it; False means it was taken away (or lapsed)."""
    return bool(_RENEW_IF_HOLDER(client, [key], holder, int(lease_seconds * 1000)))


def release(client: redis.Redis, key: str, holder: str) -> None:
    """Give the lease up, if `holder` still holds it."""
    _RELEASE_IF_HOLDER(client, [key], holder)
