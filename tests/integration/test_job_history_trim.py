"""The per-key history index stays bounded by the retention for a key that never lists its jobs."""

from __future__ import annotations

import time

import redis

from core import job_history, keys

RETENTION = 3600


def add(client: redis.Redis, owner: str, job_id: str, created: float) -> None:
    pipe = client.pipeline(transaction=True)
    job_history.stage_add(pipe, owner, job_id, created, RETENTION)
    pipe.execute()


def test_adding_a_job_drops_entries_older_than_the_retention(clean_redis: redis.Redis) -> None:
    now = time.time()
    for i in range(50):  # a key that submits for hours and never calls GET /v1/jobs
        add(clean_redis, "t", f"old-{i}", now - RETENTION - 60 - i)
    add(clean_redis, "t", "recent", now - RETENTION + 60)
    clean_redis.zadd(keys.tenant_history_key("u"), {"other-key": now - RETENTION - 60})

    add(clean_redis, "t", "new", now)

    assert clean_redis.zrange(keys.tenant_history_key("t"), 0, -1) == [b"recent", b"new"]
    # Another key's index is trimmed when that key adds, not by this one.
    assert clean_redis.zrange(keys.tenant_history_key("u"), 0, -1) == [b"other-key"]
