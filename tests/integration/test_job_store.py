"""The job aggregate's transitions against a real redis-server: each one all-or-nothing."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import redis
from celery import Celery

from core import keys
from core.audio_store import RedisAudioStore
from core.job_store import Claim, JobStore, Recovery, utcnow
from core.jobs import JobRecord, JobStatus, Segment, Transcript
from core.queueing import broker_task_ids
from core.webhook_records import WebhookConfig
from tests.services import start_redis

TRANSCRIPT = Transcript(text="x", language="en", duration=1, segments=[Segment(start=0, end=1, text="x")])


def new_job(store: JobStore, callback: bool = False) -> str:
    job_id = str(uuid.uuid4())
    config = WebhookConfig(url="https://ehr.example.org/hook") if callback else None
    RedisAudioStore(store.redis).put(job_id, [b"RIFF....WAVE"])
    store.create(JobRecord(id=job_id, created_at=utcnow()), config)
    return job_id


def claimed(store: JobStore, owner: str = "run-a", lease: float = 60) -> str:
    job_id = new_job(store, callback=True)
    assert store.claim(job_id, owner, owner, lease, max_attempts=3) is Claim.CLAIMED
    return job_id


def test_creating_a_job_stores_record_audio_and_callback_and_opens_it(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = new_job(store, callback=True)
    assert store.get(job_id).status == JobStatus.QUEUED
    assert store.get_audio(job_id) == b"RIFF....WAVE"
    for key in (keys.job_key(job_id), keys.audio_key(job_id), keys.webhook_key(job_id)):
        assert 3500 < redis_client.ttl(key) <= 3600, key
    assert redis_client.zscore(keys.OPEN_JOBS, job_id) is not None


def test_a_claim_takes_the_lease_counts_the_attempt_and_excludes_others(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store)
    record = store.get(job_id)
    assert (record.status, record.attempts, record.worker) == (JobStatus.PROCESSING, 1, "run-a")
    assert store.claim(job_id, "run-b", "run-b", 60, 3) is Claim.HELD
    assert not store.renew_lease(job_id, "run-b", 60)
    store.release_lease(job_id, "run-b")
    assert redis_client.get(keys.lease_key(job_id)) == b"run-a"
    assert store.renew_lease(job_id, "run-a", 120) and redis_client.pttl(keys.lease_key(job_id)) > 60_000


def test_only_the_lease_holder_writes_to_a_running_job(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store)
    assert store.update(job_id, "run-a", progress=40.0)
    assert not store.update(job_id, "run-b", progress=90.0)
    assert store.get(job_id).progress == 40.0


def test_ending_needs_the_lease_and_does_everything_in_one_step(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store)
    redis_client.expire(keys.job_key(job_id), 120)

    # Another run (its lease lapsed and the job moved on) cannot end it, and leaves the audio alone.
    assert not store.end(job_id, "run-b", JobStatus.FAILED)
    assert store.get(job_id).status == JobStatus.PROCESSING and store.get_audio(job_id) is not None

    assert store.end(job_id, "run-a", JobStatus.COMPLETED, TRANSCRIPT, progress=100.0)
    assert store.get(job_id).status == JobStatus.COMPLETED and store.get_result(job_id) == TRANSCRIPT
    assert store.get_audio(job_id) is None and redis_client.exists(keys.lease_key(job_id)) == 0
    assert redis_client.zscore(keys.OPEN_JOBS, job_id) is None
    # The transcript expires with its job; the callback became due in the same transaction.
    assert 100 < redis_client.ttl(keys.result_key(job_id)) <= 120
    hook = json.loads(redis_client.get(keys.webhook_key(job_id)) or b"{}")
    assert (hook["event"], hook["status"]) == ("job.completed", "pending")
    assert redis_client.zscore(keys.WEBHOOK_DUE, job_id) is not None
    # Ended once: a second finish (a duplicate run) changes nothing.
    assert not store.end(job_id, "run-a", JobStatus.FAILED)
    assert store.get(job_id).status == JobStatus.COMPLETED


def test_writes_never_resurrect_an_erased_job(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store)
    store.erase(job_id)
    assert not store.update(job_id, "run-a", progress=50.0)
    assert not store.end(job_id, "run-a", JobStatus.COMPLETED, TRANSCRIPT)
    assert store.recover(job_id, 3, time.time()) is Recovery.FORGOTTEN
    assert list(redis_client.scan_iter(match=f"*{job_id}*")) == []
    assert redis_client.zscore(keys.OPEN_JOBS, job_id) is None
    assert redis_client.zscore(keys.WEBHOOK_DUE, job_id) is None


def test_cancelling_a_queued_job_ends_it_with_its_callback_and_a_running_one_is_asked_to_stop(
    redis_client: redis.Redis,
) -> None:
    store = JobStore(redis_client, 3600)
    queued, running = new_job(store, callback=True), claimed(store)

    assert store.cancel(queued) == JobStatus.CANCELLED
    assert store.get_audio(queued) is None and redis_client.zscore(keys.WEBHOOK_DUE, queued) is not None
    assert store.cancel(running) == JobStatus.PROCESSING
    assert store.is_cancel_requested(running) and redis_client.zscore(keys.WEBHOOK_DUE, running) is None


def test_recovery_requeues_a_lapsed_run_and_leaves_live_ones_alone(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    alive, dead = claimed(store, "alive", 60), claimed(store, "dead", 0.1)
    time.sleep(0.2)  # the 0.1 s lease lapses
    later = time.time() + 1

    assert store.recover(alive, 3, later) is Recovery.NOTHING
    assert store.recover(dead, 3, later) is Recovery.REQUEUED
    requeued = store.get(dead)
    assert (requeued.status, requeued.worker, requeued.started_at, requeued.attempts) == (
        JobStatus.QUEUED, None, None, 1)
    # Counted as sent just now: a second sweeper with an older cutoff leaves it alone.
    assert store.recover(dead, 3, later - 2) is Recovery.NOTHING
    assert store.recover(dead, 3, later) is Recovery.WAITING
    assert store.get(alive).status == JobStatus.PROCESSING


def test_a_lapsed_run_that_was_asked_to_cancel_ends_cancelled(redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store, "dead", 0.1)
    store.cancel(job_id)
    time.sleep(0.2)  # the 0.1 s lease lapses
    assert store.recover(job_id, 3, time.time() + 1) is Recovery.ENDED
    assert store.get(job_id).status == JobStatus.CANCELLED and store.get_audio(job_id) is None


def test_giving_a_run_back_requeues_the_job_with_its_attempt_and_keeps_its_audio_and_callback(
    redis_client: redis.Redis,
) -> None:
    store = JobStore(redis_client, 3600)
    job_id = claimed(store, "run-a")
    redis_client.zadd(keys.OPEN_JOBS, {job_id: 0}, xx=True)

    assert not store.give_back(job_id, "run-b")  # not its lease: nothing written
    assert store.get(job_id).status == JobStatus.PROCESSING
    assert store.give_back(job_id, "run-a")

    record = store.get(job_id)
    assert (record.status, record.stage, record.attempts, record.worker, record.started_at) == (
        JobStatus.QUEUED, "queued", 0, None, None)
    assert redis_client.exists(keys.lease_key(job_id)) == 0
    assert (redis_client.zscore(keys.OPEN_JOBS, job_id) or 0) > time.time() - 60  # counted as sent now
    assert store.get_audio(job_id) == b"RIFF....WAVE"
    assert redis_client.zscore(keys.WEBHOOK_DUE, job_id) is None and redis_client.exists(keys.webhook_key(job_id))
    store.erase(job_id)
    assert not store.give_back(job_id, "run-a")


def test_the_broker_probe_sees_waiting_and_reserved_messages(tmp_path: Path) -> None:
    # Its own Redis: the session's worker would consume these messages.
    proc, redis_url = start_redis(tmp_path)
    redis_client = redis.Redis.from_url(redis_url)
    app = Celery("probe", broker=redis_url)
    waiting, reserved = str(uuid.uuid4()), str(uuid.uuid4())
    for task_id in (reserved, waiting):
        app.send_task(keys.TRANSCRIBE_TASK, args=[task_id], queue=keys.TRANSCRIBE_QUEUE, task_id=task_id)
    # A consumer takes one message without acknowledging it, like a worker in the middle of a job.
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(keys.TRANSCRIBE_QUEUE)
        message = queue.get(timeout=5)
        assert message.headers["id"] == reserved
        assert {waiting, reserved} <= broker_task_ids(redis_client)
        message.ack()
        queue.close()
    assert reserved not in broker_task_ids(redis_client)
    proc.stop()


def test_jobs_stored_before_the_open_index_existed_are_indexed_once(clean_redis: redis.Redis) -> None:
    store = JobStore(clean_redis, 3600)
    waiting, ended = new_job(store), new_job(store)
    store.cancel(ended)
    clean_redis.delete(keys.OPEN_JOBS)  # as an earlier version left them

    assert store.index_open_jobs() == 1
    assert clean_redis.zrange(keys.OPEN_JOBS, 0, -1) == [waiting.encode()]
    assert store.index_open_jobs() == 0
