"""The recovery sweep against a real redis-server: every open job comes back into the flow, once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import redis

from core import keys
from core.job_store import Claim
from core.jobs import JobStatus
from tests.fakes import Harness
from worker.jobs.recovery import sweep
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_round


def test_a_queued_job_without_a_broker_message_is_sent_again_after_the_grace(clean_redis: redis.Redis) -> None:
    # The API stored the job and died before sending its task (or the message was lost).
    h = Harness(clean_redis)
    lost, waiting, fresh = h.submit(), h.submit(), h.submit()
    sent: list[str] = []
    now = time.time()
    for job_id in (lost, waiting):
        clean_redis.zadd(keys.OPEN_JOBS, {job_id: now - 60})

    report = sweep(h.store, sent.append, lambda: {waiting}, 3, grace_seconds=30, now=now)

    assert report.resent == [lost] and sent == [lost]
    assert fresh not in sent  # submitted a moment ago: its message may be on its way
    # Sent just now: the next sweep leaves it alone for the grace period.
    assert sweep(h.store, sent.append, lambda: {waiting}, 3, grace_seconds=30).resent == []


def test_concurrent_sweeps_requeue_each_lapsed_job_once_and_each_runs_once(clean_redis: redis.Redis) -> None:
    h = Harness(clean_redis)
    jobs = [h.submit(callback=False) for _ in range(20)]
    for job_id in jobs:
        assert h.store.claim(job_id, "dead/run", "dead", 0.05, 3) is Claim.CLAIMED
    time.sleep(0.1)  # the 0.05 s leases lapse
    sends: Counter[str] = Counter()
    lock = threading.Lock()

    def send(job_id: str) -> None:
        with lock:
            sends[job_id] += 1

    now = time.time() + 1
    sweepers = [threading.Thread(target=sweep, args=(h.store, send, set, 3, 0.5, now)) for _ in range(4)]
    for t in sweepers:
        t.start()
    for t in sweepers:
        t.join()

    assert set(sends) == set(jobs)
    assert all(h.store.get(j).status == JobStatus.QUEUED for j in jobs)
    # However many messages went out, each job is transcribed once.
    # (A round also takes other ready jobs: count every job's outcome across the rounds.)
    outcomes = Counter(o for job_id in sends.elements() for o in run_round(job_id, h.context()).values())
    assert outcomes[RunOutcome.COMPLETED] == 20 and h.models.recordings == 20
    assert set(outcomes) <= {RunOutcome.COMPLETED, RunOutcome.SKIPPED}
