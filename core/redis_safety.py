"""A Redis that may evict keys loses jobs silently: checked by every process at start-up.

Under memory pressure an evicting Redis (`maxmemory-policy` other than `noeviction`) drops keys to
make room: queued task messages, job records, audio, webhook schedules. Nothing errors; jobs just
vanish. With `noeviction` a full Redis refuses writes instead, which EndoScribe reports (503 at
submit, backpressure) and recovers from.
"""

from __future__ import annotations

import logging

import redis

from core.settings import Settings

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
               "job records and audio. Set maxmemory-policy noeviction (README, Redis), or "
               "ENDOSCRIBE_REDIS_ALLOW_EVICTION=true to run anyway")
    if settings.redis_tls.allow_eviction:
        log.error("!!! %s (allowed by ENDOSCRIBE_REDIS_ALLOW_EVICTION) !!!", message.split(". Set")[0])
        return
    raise EvictingRedis(message)
