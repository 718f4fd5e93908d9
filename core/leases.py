"""Leases in Redis: a key holding its owner's name with a TTL, renewed and released only by that owner.

Jobs (`JobStore`) and live sessions (`SessionStore`) are held this way by the worker running them.
"""

from __future__ import annotations

import redis

_RENEW_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def renew(client: redis.Redis, key: str, owner: str, lease_seconds: float) -> bool:
    """Extend the lease if `owner` still holds it; False means it was taken away (or lapsed)."""
    return bool(client.eval(_RENEW_IF_OWNER, 1, key, owner, int(lease_seconds * 1000)))  # type: ignore[no-untyped-call]


def release(client: redis.Redis, key: str, owner: str) -> None:
    """Give the lease up, if `owner` still holds it."""
    client.eval(_RELEASE_IF_OWNER, 1, key, owner)  # type: ignore[no-untyped-call]
