"""The worker's one lease renewer on a real redis-server: every job and session lease in one pipeline a tick."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from core import keys
from worker.leases import LeaseRenewer


def test_one_tick_renews_every_job_and_session_lease_in_one_pipeline(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in (keys.lease_key("job-a"), keys.lease_key("job-b"), keys.session_lease_key("session-c")):
        clean_redis.set(key, "w/1", px=1000)
    clean_redis.set(keys.lease_key("job-d"), "another-worker", px=60_000)  # taken over meanwhile
    renewer = LeaseRenewer(clean_redis, 60)
    leases = [renewer.hold_job("job-a", "w/1"), renewer.hold_job("job-b", "w/1"),
              renewer.hold_session("session-c", "w/1"), renewer.hold_job("job-d", "w/1")]
    pipelines: list[Any] = []
    pipeline = clean_redis.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        pipelines.append(pipeline(*args, **kwargs))
        return pipelines[-1]

    monkeypatch.setattr(clean_redis, "pipeline", counted)
    monkeypatch.setattr(clean_redis, "eval", pytest.fail)  # no renewal outside the pipeline

    renewer.renew()

    assert len(pipelines) == 1
    assert [clean_redis.pttl(k) > 50_000 for k in (keys.lease_key("job-a"), keys.lease_key("job-b"),
                                                   keys.session_lease_key("session-c"))] == [True] * 3
    assert clean_redis.get(keys.lease_key("job-d")) == b"another-worker"
    assert [lease.lost.is_set() for lease in leases] == [False, False, False, True]
    assert renewer.held() == leases[:3]  # the lost one is renewed no more


def test_a_lease_past_its_hard_deadline_is_expired_and_renewed_no_more(clean_redis: redis.Redis) -> None:
    clean_redis.set(keys.lease_key("stuck"), "w/1", px=1000)
    renewer = LeaseRenewer(clean_redis, 60)
    expired: list[str] = []
    lease = renewer.hold_job("stuck", "w/1", time.monotonic() - 1, lambda: expired.append("stuck"))

    renewer.renew()

    assert expired == ["stuck"] and lease.lost.is_set() and renewer.held() == []
    assert clean_redis.pttl(keys.lease_key("stuck")) <= 1000


def test_a_dropped_lease_is_not_renewed_and_the_renewer_thread_ends_when_nothing_is_held(
    clean_redis: redis.Redis,
) -> None:
    clean_redis.set(keys.lease_key("done"), "w/1", px=5000)
    renewer = LeaseRenewer(clean_redis, 0.3)
    renewer.drop(renewer.hold_job("done", "w/1"))

    time.sleep(0.5)

    assert not renewer.running
    assert clean_redis.pttl(keys.lease_key("done")) <= 4500
