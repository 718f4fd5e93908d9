"""The job store's atomic operations against a real redis-server."""

from __future__ import annotations

import time
import uuid

import redis

from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus, Segment, Transcript


def new_job(store: JobStore, status: JobStatus = JobStatus.QUEUED) -> str:
    job_id = str(uuid.uuid4())
    store.create(JobRecord(id=job_id, created_at=utcnow(), status=status), b"RIFF....WAVE")
    return job_id


def test_a_lease_belongs_to_its_owner(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store)
    assert store.try_lock(job_id, "worker-a", 5)
    assert not store.try_lock(job_id, "worker-b", 5)
    assert not store.renew_lock(job_id, "worker-b", 60)
    store.unlock(job_id, "worker-b")
    assert redis_client.get(f"endoscribe:lock:{job_id}") == b"worker-a"
    assert store.renew_lock(job_id, "worker-a", 60)
    assert redis_client.pttl(f"endoscribe:lock:{job_id}") > 5000
    store.unlock(job_id, "worker-a")
    assert redis_client.exists(f"endoscribe:lock:{job_id}") == 0
    assert not redis_client.sismember("endoscribe:processing", job_id)


def test_a_processing_job_whose_lease_lapsed_is_requeued_once(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    alive, dead = new_job(store), new_job(store)
    for job_id, lease in ((alive, 60), (dead, 0.2)):
        assert store.try_lock(job_id, "w", lease)
        store.update(job_id, status=JobStatus.PROCESSING, worker="w", started_at=utcnow())
    time.sleep(0.3)

    assert store.requeue_orphans() == [dead]
    store.forget_orphan(dead)
    assert store.requeue_orphans() == []
    requeued = store.get(dead)
    assert (requeued.status, requeued.worker, requeued.started_at) == (JobStatus.QUEUED, None, None)
    assert store.get(alive).status == JobStatus.PROCESSING


def test_writes_never_resurrect_an_erased_job(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store)
    store.erase(job_id)
    store.set_progress(job_id, 50)
    saved = store.finish(job_id, "run", Transcript(text="x", language="en", duration=1,
                                                   segments=[Segment(start=0, end=1, text="x")]),
                         status=JobStatus.COMPLETED)
    assert not store.update(job_id, status=JobStatus.COMPLETED)
    assert saved is False
    assert list(redis_client.scan_iter(match=f"*{job_id}*")) == []


def test_a_result_expires_with_its_job(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store)
    assert store.try_lock(job_id, "run", 60)
    store.update(job_id, status=JobStatus.PROCESSING)
    redis_client.expire(f"endoscribe:job:{job_id}", 120)
    assert store.finish(job_id, "run", Transcript(text="x", language="en", duration=1, segments=[]),
                        status=JobStatus.COMPLETED)
    assert 100 < redis_client.ttl(f"endoscribe:result:{job_id}") <= 120


def test_finishing_needs_the_lease_and_does_everything_at_once(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store)
    assert store.try_lock(job_id, "run-a", 60)
    store.update(job_id, status=JobStatus.PROCESSING)
    transcript = Transcript(text="x", language="en", duration=1, segments=[Segment(start=0, end=1, text="x")])

    # Another run (its lease lapsed and the job moved on) cannot end it, and leaves the audio alone.
    assert not store.finish(job_id, "run-b", transcript, status=JobStatus.FAILED)
    assert store.get(job_id).status == JobStatus.PROCESSING and store.get_audio(job_id) is not None

    assert store.finish(job_id, "run-a", transcript, status=JobStatus.COMPLETED, progress=100.0)
    assert store.get(job_id).status == JobStatus.COMPLETED
    assert store.get_result(job_id) == transcript
    assert store.get_audio(job_id) is None
    assert redis_client.exists(f"endoscribe:lock:{job_id}") == 0
    assert not redis_client.sismember("endoscribe:processing", job_id)
    # Ended once: a second finish (a duplicate run) changes nothing.
    assert not store.finish(job_id, "run-a", None, status=JobStatus.FAILED)
    assert store.get(job_id).status == JobStatus.COMPLETED


def test_an_orphan_stays_tracked_until_its_task_is_resent(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store)
    assert store.try_lock(job_id, "dead-run", 0.1)
    store.update(job_id, status=JobStatus.PROCESSING)
    time.sleep(0.2)
    assert job_id in store.requeue_orphans()
    # The rescuer died before sending: the next sweep returns it again.
    assert job_id in store.requeue_orphans()
    store.forget_orphan(job_id)
    assert job_id not in store.requeue_orphans()
