"""Job totals kept in Redis by the job store's own transactions, and the collector that exports them,
against a real redis-server: every way a job ends is counted once, with its timings."""

from __future__ import annotations

import time
import uuid

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core import keys
from core.cluster_metrics import ClusterCollector
from core.job_store import WORKER_CRASHED, Claim, JobStore, utcnow
from core.jobs import JobError, JobRecord, JobStatus, Segment, Transcript
from tests.metrics import Samples, value
from tests.services import free_port

TRANSCRIPT = Transcript(text="x", language="en", duration=1, segments=[Segment(start=0, end=1, text="x")])


def collected(client: redis.Redis) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in ClusterCollector(client).collect() for s in family.samples}


def stored(store: JobStore, audio_format: str = "wav") -> str:
    job_id = str(uuid.uuid4())
    store.create(JobRecord(id=job_id, created_at=utcnow(), audio_format=audio_format))
    return job_id


def claimed(store: JobStore, attempts: int = 3) -> str:
    job_id = stored(store)
    assert store.claim(job_id, "run", "worker", 60, max_attempts=attempts) is Claim.CLAIMED
    return job_id


def test_every_way_a_job_ends_is_counted_once_with_its_timings(clean_redis: redis.Redis) -> None:
    store = JobStore(clean_redis, 3600)
    # A worker completes one (12 s of audio in 3 s: a realtime factor of 4) and fails another.
    done = claimed(store)
    assert store.end(done, "run", JobStatus.COMPLETED, TRANSCRIPT, audio_seconds=12.0, processing_seconds=3.0)
    bad = claimed(store)
    assert store.end(bad, "run", JobStatus.FAILED, error=JobError(code="audio_silent", message="silent"),
                        processing_seconds=0.2)
    # The API cancels a queued one; recovery fails one whose worker died on its last attempt.
    queued = stored(store, "mp3")
    assert store.cancel(queued) is JobStatus.CANCELLED
    lost = claimed(store, attempts=1)
    clean_redis.delete(keys.lease_key(lost))
    store.recover(lost, max_attempts=1, sent_before=time.time() + 1)
    # Ending twice counts once: the second finish no longer holds the job.
    assert not store.end(done, "run", JobStatus.COMPLETED, TRANSCRIPT, processing_seconds=3.0)
    open_job = stored(store, "flac")

    samples = collected(clean_redis)
    assert value(samples, "endoscribe_jobs_submitted_total", format="wav") == 3
    assert value(samples, "endoscribe_jobs_submitted_total", format="mp3") == 1
    assert value(samples, "endoscribe_jobs_submitted_total", format="flac") == 1
    ended = {labels: v for (name, labels), v in samples.items() if name == "endoscribe_jobs_ended_total"}
    assert ended == {
        frozenset({("status", "completed"), ("error_code", "")}): 1,
        frozenset({("status", "failed"), ("error_code", "audio_silent")}): 1,
        frozenset({("status", "cancelled"), ("error_code", "")}): 1,
        frozenset({("status", "failed"), ("error_code", WORKER_CRASHED.code)}): 1,
    }
    # Queue wait for the three that a run started; processing for the two a worker ended.
    assert value(samples, "endoscribe_job_queue_wait_seconds_count") == 3
    assert value(samples, "endoscribe_job_processing_seconds_count") == 2
    assert value(samples, "endoscribe_job_processing_seconds_sum") == 3.2
    assert value(samples, "endoscribe_job_processing_seconds_bucket", le="0.5") == 1
    assert value(samples, "endoscribe_job_processing_seconds_bucket", le="5.0") == 2
    assert value(samples, "endoscribe_job_realtime_factor_bucket", le="2.0") == 0
    assert value(samples, "endoscribe_job_realtime_factor_bucket", le="5.0") == 1
    assert value(samples, "endoscribe_job_realtime_factor_bucket", le="+Inf") == 1
    assert value(samples, "endoscribe_jobs_open", status="queued") == 1
    assert open_job


def test_open_jobs_and_queue_depth_are_read_at_scrape_time(clean_redis: redis.Redis) -> None:
    store = JobStore(clean_redis, 3600)
    stored(store)
    stored(store)
    claimed(store)
    clean_redis.rpush(keys.TRANSCRIBE_QUEUE, b"{}", b"{}")
    clean_redis.rpush(f"{keys.TRANSCRIBE_QUEUE}\x06\x163", b"{}")  # a priority step's list
    clean_redis.hset("unacked", "tag", b"[{}]")
    clean_redis.zadd(keys.WORKERS, {"alive": time.time() + 10, "gone": time.time() - 1})
    clean_redis.zadd(keys.WEBHOOK_DUE, {"a": time.time() - 1, "b": time.time() + 60})
    clean_redis.zadd(keys.READY, {"urgent": keys.ready_score(time.time(), "high")})
    samples = collected(clean_redis)
    assert value(samples, "endoscribe_jobs_ready", lane="normal") == 2
    assert value(samples, "endoscribe_jobs_ready", lane="high") == 1
    assert value(samples, "endoscribe_jobs_open", status="queued") == 2
    assert value(samples, "endoscribe_jobs_open", status="processing") == 1
    assert value(samples, "endoscribe_queue_messages", queue=keys.TRANSCRIBE_QUEUE) == 3
    assert value(samples, "endoscribe_queue_unacked_messages") == 1
    assert value(samples, "endoscribe_workers_alive") == 1
    assert value(samples, "endoscribe_webhooks_scheduled") == 2
    assert value(samples, "endoscribe_webhooks_due") == 1


def test_a_scrape_without_redis_says_so_instead_of_failing() -> None:
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    assert collected(unreachable) == {("endoscribe_redis_up", frozenset()): 0}
