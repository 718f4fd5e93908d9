"""The typed Redis plumbing against a real redis-server: a transaction runs again when a watched key
changes under it, and Lua scripts go by SHA (EVALSHA, never EVAL) and survive a server that forgot them."""

from __future__ import annotations

import redis
from redis.client import Pipeline

from core import keys, leases
from core.redis_calls import Lua, as_int, transact

COUNTER = "endoscribe:test:counter"


def test_a_transaction_runs_again_when_a_watched_key_changes_before_it_commits(clean_redis: redis.Redis) -> None:
    other = redis.Redis(connection_pool=clean_redis.connection_pool)
    clean_redis.set(COUNTER, 1)
    runs: list[int] = []

    def double(pipe: Pipeline) -> int:
        value = as_int(pipe.get(COUNTER))
        runs.append(value)
        if len(runs) == 1:
            other.set(COUNTER, 5)  # someone else writes between the read and EXEC
        pipe.multi()
        pipe.set(COUNTER, value * 2)
        return value * 2

    assert transact(clean_redis, double, COUNTER) == 10
    assert runs == [1, 5] and clean_redis.get(COUNTER) == b"10"


def test_a_body_that_never_calls_multi_writes_nothing(clean_redis: redis.Redis) -> None:
    assert transact(clean_redis, lambda pipe: pipe.get(COUNTER), COUNTER) is None
    assert clean_redis.exists(COUNTER) == 0


def test_scripts_go_by_sha_and_are_loaded_again_after_the_server_forgot_them(clean_redis: redis.Redis) -> None:
    clean_redis.config_resetstat()
    key = keys.lease_key("job-1")
    assert leases.take(clean_redis, key, "worker-a/run", 60)

    assert leases.renew(clean_redis, key, "worker-a/run", 120)
    clean_redis.script_flush()  # a restart or a failover to a replica that never saw the script
    assert leases.renew(clean_redis, key, "worker-a/run", 120)
    assert not leases.renew(clean_redis, key, "worker-b/run", 120)

    stats = clean_redis.info("commandstats")
    assert "cmdstat_eval" not in stats
    assert stats["cmdstat_evalsha"]["calls"] >= 3
    assert stats["cmdstat_script|load"]["calls"] >= 1


def test_one_script_object_serves_every_client(clean_redis: redis.Redis) -> None:
    echo = Lua("return ARGV[1]")
    other = redis.Redis(connection_pool=clean_redis.connection_pool)
    assert echo(clean_redis, [], "a") == b"a"
    assert echo(other, [], "b") == b"b"
