"""A Redis that may evict keys loses jobs silently: checked by every process at start-up.

Under memory pressure an evicting Redis (`maxmemory-policy` other than `noeviction`) drops keys to
make room: queued task messages, job records, audio, webhook schedules. Nothing errors; jobs just
vanish. With `noeviction` a full Redis refuses writes instead, which EndoScribe reports (503 at
submit, backpressure) and recovers from.
"""

from __future__ import annotations

import logging

import redis

from core.errors import ErrorCode, Overloaded
from core.settings import QuotaSettings, Settings

log = logging.getLogger("endoscribe.redis")


class EvictingRedis(RuntimeError):
    """Redis's eviction policy may drop EndoScribe's keys."""


def eviction_policy(client: redis.Redis) -> str | None:
    """The server's `maxmemory-policy`; from INFO where CONFIG is disabled (hosted Redis). None: unknown."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.ResponseError:
        policy = client.info("memory").get("maxmemory_policy")
    if isinstance(policy, bytes):
        policy = policy.decode()
    return str(policy) if policy else None


def check_no_eviction(client: redis.Redis, settings: Settings) -> None:
    """Refuse to start on an evicting Redis (unless allowed: then warn loudly). A Redis that does not
    answer yet is left to the usual retries: it is checked by the next process start."""
    try:
        policy = eviction_policy(client)
    except redis.RedisError as exc:
        log.warning("could not read Redis's eviction policy (%s); not checked", exc.__class__.__name__)
        return
    if policy in (None, "noeviction"):
        return
    message = (f"Redis maxmemory-policy is {policy}: under memory pressure it silently deletes queued jobs, "
               "job records and audio. Set maxmemory-policy noeviction (docs/operations/configuration.md), or "
               "ENDOSCRIBE_REDIS_ALLOW_EVICTION=true to run anyway")
    if settings.redis_tls.allow_eviction:
        log.error("!!! %s (allowed by ENDOSCRIBE_REDIS_ALLOW_EVICTION) !!!", message.split(". Set")[0])
        return
    raise EvictingRedis(message)


def memory_ceiling(settings: QuotaSettings, maxmemory: int) -> int:
    """Redis `used_memory` in bytes past which nothing new is stored (0: no ceiling). `maxmemory` is Redis's
    own, or the host's memory without one. Work in flight must still be able to finish (a transcript needs
    memory, finishing frees audio), so new data stops short of Redis's limit."""
    mb, fraction = settings.max_redis_memory_mb, settings.max_redis_memory_fraction
    return min((t for t in (int(mb * 1_000_000), int(maxmemory * fraction)) if t), default=0)


def check_memory_room(used_memory: int, maxmemory: int, settings: QuotaSettings, what: str = "new jobs") -> None:
    """503 `storage_full` when Redis holds more than its ceiling (the memory guard); `what` is refused."""
    ceiling, busy = memory_ceiling(settings, maxmemory), settings.busy_retry_seconds
    if ceiling and used_memory >= ceiling:
        raise Overloaded(
            f"the job store holds {used_memory / 1e6:.1f} MB; {what} are refused above "
            f"{ceiling / 1e6:.1f} MB until running jobs finish — retry in {busy} s",
            retry_after=busy, code=ErrorCode.STORAGE_FULL)


def check_room_to_store(client: redis.Redis, settings: QuotaSettings, what: str) -> None:
    """The memory guard before a write that stores data: reads Redis's memory (a hosted Redis that
    refuses INFO is not judged)."""
    if not (settings.max_redis_memory_mb or settings.max_redis_memory_fraction):
        return
    try:
        info = client.info("memory")
    except redis.ResponseError:
        return
    maxmemory = int(info.get("maxmemory", 0)) or int(info.get("total_system_memory", 0))
    check_memory_room(int(info.get("used_memory", 0)), maxmemory, settings, what)
