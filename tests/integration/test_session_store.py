"""The session aggregate against a real redis-server (and moto's S3 server), with the fake transcriber: a
session's audio goes where every job's audio goes, an ended session is never left to expire with its
audio, its options stay out of the hash every look reads, wakes come one per period, and a chunk too
short to be audio is not stored."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest
import redis

from api import session_service
from core import keys
from core.audio_store import JobAudio, RedisAudioStore
from core.job_participants import Participant, Transition
from core.job_store import JobStore
from core.jobs import JobOptions, JobStatus
from core.queueing import make_celery
from core.s3_audio_store import S3AudioStore
from core.session_store import Appended, SessionMeta, SessionStore
from core.settings import LiveSettings, Settings
from core.vocabulary import VocabularyPhrase
from tests.fakes import Harness, live_harness, tone_pcm
from tests.integration.test_live_desk import context, drive, new_session, stream
from tests.services import s3_client
from worker.jobs.run import RunOutcome
from worker.live.desk import LiveDesk
from worker.schedule.loop import run_job

RETENTION = 7 * 24 * 3600


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return live_harness(clean_redis)


@pytest.fixture()
def s3_audio(s3_endpoint: str) -> S3AudioStore:
    return S3AudioStore(s3_client(s3_endpoint), "audio", f"sessions-{time.monotonic_ns()}")


def objects(store: S3AudioStore) -> list[str]:
    listed = store.s3.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return [item["Key"][len(store.prefix):] for item in listed.get("Contents", [])]


# ---- a session's audio goes through the configured audio store ----------------------------------------


def test_a_session_on_s3_ends_as_a_job_whose_audio_is_in_the_bucket_and_the_job_completes(
    harness: Harness, s3_audio: S3AudioStore,
) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, hotwords="cecum")
    ctx = context(harness)
    ctx.store = JobStore(harness.client, 3600, s3_audio)
    desk = LiveDesk(ctx, harness.models.info(), store)
    stream(store, session_id, tone_pcm(1.0), desk, harness)

    store.request_end(session_id, "end")
    drive(desk, harness)

    state = store.get(session_id)
    assert state is not None and state.status.value == "ended"
    job_id = state.meta.job_id
    audio = s3_audio.get(job_id)
    assert audio is not None and len(audio) == 44 + 32000 and audio[:4] == b"RIFF"
    assert not harness.client.exists(keys.audio_key(job_id), keys.session_audio_key(session_id))
    assert run_job(job_id, ctx) == RunOutcome.COMPLETED
    assert harness.store.get(job_id).status == JobStatus.COMPLETED
    assert (harness.store.get_result(job_id) or pytest.fail("no transcript")).text == "w0 w1"
    assert objects(s3_audio) == []  # deleted when the job ended


def test_a_session_on_redis_still_ends_as_a_job_with_its_audio_beside_it(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    store.request_end(session_id, "end")

    jobs = JobStore(harness.client, RETENTION)

    job_id = store.end_as_job(session_id, jobs, RedisAudioStore(harness.client))

    assert job_id is not None and len(jobs.get_audio(job_id) or b"") == 44 + 16000
    # The job's audio lives as long as the job, not the upload window.
    assert harness.client.ttl(keys.audio_key(job_id)) > RETENTION - 60
    assert store.end_as_job(session_id, jobs, RedisAudioStore(harness.client)) == job_id  # again: no change


class ErasingDuringPut(Participant):
    """An audio store whose put outlives the session (it expires or is erased meanwhile)."""

    def __init__(self, inner: JobAudio, client: redis.Redis, session_id: str) -> None:
        self.inner, self.client, self.session_id = inner, client, session_id

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        size = self.inner.put(job_id, chunks)
        self.client.delete(keys.session_key(self.session_id))
        return size

    def get(self, job_id: str) -> bytes | None:
        return self.inner.get(job_id)

    def delete(self, job_id: str) -> None:
        self.inner.delete(job_id)

    def sweep(self, keep: Any) -> int:
        return 0

    def after_commit(self, transition: Transition, job_id: str) -> None:
        self.inner.after_commit(transition, job_id)


def test_audio_put_for_a_session_that_is_gone_by_the_commit_is_deleted(
    harness: Harness, s3_audio: S3AudioStore,
) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    store.request_end(session_id, "end")

    jobs = JobStore(harness.client, 3600, ErasingDuringPut(s3_audio, harness.client, session_id))
    assert store.end_as_job(session_id, jobs, jobs.audio) is None

    assert objects(s3_audio) == []
    assert harness.client.zcard(keys.OPEN_JOBS) == 0


# ---- an ended session is never left to expire with its audio ------------------------------------------


def test_an_ending_session_lives_as_long_as_a_queued_job_would(harness: Harness) -> None:
    store = SessionStore(harness.client, 1830, retention_seconds=RETENTION)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    store.emit(session_id, {"type": "partial", "text": "w0", "start": 0.0})

    store.request_end(session_id, "end")

    for key in (keys.session_key(session_id), keys.session_audio_key(session_id),
                keys.session_meta_key(session_id), keys.session_events_key(session_id)):
        assert harness.client.ttl(key) > RETENTION - 60, key


def test_only_open_sessions_count_against_the_key_limit(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    first = new_session(store)
    for _ in range(3):
        new_session(store)
    fifth = SessionMeta(id="s-5", tenant="owner-1", job_id="j-5", created_at=time.time())
    assert store.create(fifth, max_per_tenant=4) == 4

    store.request_end(first, "end")  # no worker has made it a job yet

    assert store.create(fifth, max_per_tenant=4) is None


def strict() -> LiveSettings:
    return LiveSettings(end_grace_seconds=2, idle_timeout_seconds=30)


def test_an_ending_session_no_worker_takes_becomes_a_queued_job_with_its_audio_after_the_grace(
    harness: Harness, s3_audio: S3AudioStore,
) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, hotwords="cecum")
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    store.request_end(session_id, "end")
    job_id = store.get(session_id).meta.job_id  # type: ignore[union-attr]
    jobs = JobStore(harness.client, 3600, s3_audio)

    assert session_service.end_stranded_sessions(store, jobs, s3_audio, strict()) == []  # within its grace
    ended = session_service.end_stranded_sessions(store, jobs, s3_audio, strict(), now=time.time() + 3)

    assert ended == [job_id]
    job = jobs.get(job_id)
    assert (job.status, job.tenant, job.options.hotwords) == (JobStatus.QUEUED, "owner-1", "cecum")
    assert len(s3_audio.get(job_id) or b"") == 44 + 16000
    assert harness.client.zscore(keys.READY, job_id) is not None
    assert store.get(session_id).status.value == "ended"  # type: ignore[union-attr]


def test_an_ending_session_a_worker_holds_is_left_to_that_worker(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    assert store.claim(session_id, "a-worker", 30)
    store.request_end(session_id, "end")

    ended = session_service.end_stranded_sessions(store, harness.store, RedisAudioStore(harness.client), strict(),
                                                  now=time.time() + 60)

    assert ended == [] and store.get(session_id).status.value == "ending"  # type: ignore[union-attr]


def test_an_open_session_nobody_serves_or_feeds_ends_at_its_idle_timeout_and_becomes_a_job(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    audio = RedisAudioStore(harness.client)
    later = time.time() + 31

    assert session_service.end_stranded_sessions(store, harness.store, audio, strict(), now=later) == []
    assert store.get(session_id).reason == "idle_timeout"  # type: ignore[union-attr]
    ended = session_service.end_stranded_sessions(store, harness.store, audio, strict(), now=later + 3)

    assert len(ended) == 1 and len(harness.store.get_audio(ended[0]) or b"") == 44 + 16000


# ---- options stay out of the polled hash --------------------------------------------------------------


def test_a_sessions_options_are_kept_apart_from_the_hash_each_look_reads(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    vocabulary = [VocabularyPhrase(phrase=f"phrase number {n}") for n in range(200)]
    session_id = new_session(store, vocabulary=vocabulary, hotwords="cecum")

    polled = harness.client.hgetall(keys.session_key(session_id))
    state = store.get(session_id)
    meta = store.meta(session_id)

    assert b"meta" not in polled and sum(len(v) for v in polled.values()) < 200
    assert state is not None and (state.meta.tenant, state.meta.id) == ("owner-1", session_id)
    assert meta is not None and meta.options.hotwords == "cecum" and len(meta.options.vocabulary) == 200


# ---- wakes --------------------------------------------------------------------------------------------


def test_a_burst_of_wakes_sends_one_live_task(harness: Harness, own_redis_url: str) -> None:
    celery = make_celery(Settings(redis_url=own_redis_url))
    store = SessionStore(harness.client, 3600)

    for _ in range(50):
        session_service.wake_worker(celery, store)

    assert harness.client.llen(keys.TRANSCRIBE_QUEUE) == 1


# ---- chunks too short to be audio ---------------------------------------------------------------------


def test_an_empty_or_sub_20_ms_chunk_is_not_stored_and_leaves_the_idle_clock(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    before = store.get(session_id)
    time.sleep(0.01)  # the clock moves on: an unchanged idle clock is then no coincidence

    results = [store.append(session_id, 0, b"", 10**9), store.append(session_id, 0, b"\0" * 638, 10**9),
               store.append(session_id, 0, b"\0" * 640, 10**9)]

    assert results == [(Appended.TOO_SHORT, 0), (Appended.TOO_SHORT, 0), (Appended.STORED, 1)]
    after = store.get(session_id)
    assert before is not None and after is not None and after.audio_bytes == 640
    harness.client.hset(keys.session_key(session_id), "last_audio_at", before.last_audio_at)
    store.append(session_id, 1, b"", 10**9)
    assert store.get(session_id).last_audio_at == before.last_audio_at  # type: ignore[union-attr]


def test_a_session_stored_by_the_earlier_version_is_still_read_and_ended(harness: Harness) -> None:
    meta = SessionMeta(id="s-old", tenant="owner-1", options=JobOptions(hotwords="cecum"), job_id="j-old",
                       created_at=time.time(), base_url="http://api")
    harness.client.hset(keys.session_key(meta.id), mapping={
        "meta": meta.model_dump_json(), "status": "open", "next_seq": 1, "audio_bytes": 16000,
        "last_audio_at": meta.created_at, "committed_bytes": 0, "segment": 0, "prompt": "", "reason": ""})
    harness.client.set(keys.session_audio_key(meta.id), tone_pcm(0.5))
    harness.client.zadd(keys.LIVE_SESSIONS, {meta.id: meta.created_at})
    store = SessionStore(harness.client, 3600)

    state = store.get(meta.id)
    assert state is not None and (state.meta.tenant, state.meta.job_id) == ("owner-1", "j-old")
    assert store.request_end(meta.id, "end")
    assert store.end_as_job(meta.id, harness.store, RedisAudioStore(harness.client)) == "j-old"

    assert harness.store.get("j-old").options.hotwords == "cecum"
    assert len(harness.store.get_audio("j-old") or b"") == 44 + 16000
