"""The job store drives its participants (`core.job_participants`) against a real redis-server: one
registered participant sees every transition inside its transaction, and is told once after each
commit, however the transaction ran; a participant that fails after the commit stops nobody. In-transaction
hooks only queue writes: a conflict runs them again, and only the committed attempt's writes land."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Created, Ended, Erased, Participant, Transition
from core.job_store import Claim, JobStore, utcnow
from core.jobs import JobError, JobRecord, JobStatus
from core.s3_audio_store import S3AudioStore
from core.webhook_records import WebhookConfig

NOTES = "endoscribe:test:participant"


@dataclass
class Recorder(Participant):
    """Writes a note inside each transaction (so it commits with it) and records what it was told."""

    seen: list[tuple[str, Any]] = field(default_factory=list)

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        pipe.rpush(NOTES, f"create {created.job_id}")
        self.seen.append(("create", (created.job_id, created.callback is not None, created.ttl)))

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        pipe.rpush(NOTES, f"end {ended.job_id}")
        self.seen.append(("end", (ended.status, ended.tenant, ended.error_code, ended.callback is not None)))

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        pipe.rpush(NOTES, f"erase {erased.job_id}")
        self.seen.append(("erase", erased.tenant))

    def after_commit(self, transition: Transition, job_id: str) -> None:
        self.seen.append(("after", transition))


def new_job(store: JobStore) -> str:
    job_id = str(uuid.uuid4())
    store.create(JobRecord(id=job_id, tenant="tenant-1", created_at=utcnow()),
                 WebhookConfig(url="https://ehr.example.org/hook"))
    return job_id


def test_a_registered_participant_takes_part_in_create_end_and_erase(clean_redis: redis.Redis) -> None:
    store, recorder = JobStore(clean_redis, 3600), Recorder()
    store.register(recorder)

    job_id = new_job(store)
    assert store.claim(job_id, "run", "worker", 60, 3) is Claim.CLAIMED
    assert not store.end(job_id, "someone-else", JobStatus.COMPLETED)  # refused: nothing staged, nothing told
    failed = JobError(code="audio_silent", message="silent")
    assert store.end(job_id, "run", JobStatus.FAILED, error=failed)
    store.erase(job_id)

    assert recorder.seen == [
        ("create", (job_id, True, 3600)), ("after", Transition.CREATED),
        ("end", (JobStatus.FAILED, "tenant-1", "audio_silent", True)), ("after", Transition.ENDED),
        ("erase", "tenant-1"), ("after", Transition.ERASED),
    ]
    assert clean_redis.lrange(NOTES, 0, -1) == [f"{n} {job_id}".encode() for n in ("create", "end", "erase")]


def test_a_cancel_and_an_exhausting_claim_end_the_job_through_the_participants(clean_redis: redis.Redis) -> None:
    store, recorder = JobStore(clean_redis, 3600), Recorder()
    store.register(recorder)
    queued, spent = new_job(store), new_job(store)
    clean_redis.hset(keys.job_key(spent), "attempts", "3")

    assert store.cancel(queued) == JobStatus.CANCELLED
    assert store.claim(spent, "run", "worker", 60, max_attempts=3) is Claim.EXHAUSTED

    ends = [what for kind, what in recorder.seen if kind == "end"]
    assert ends == [(JobStatus.CANCELLED, "tenant-1", None, True),
                    (JobStatus.FAILED, "tenant-1", "worker_crashed", True)]
    assert [t for kind, t in recorder.seen if kind == "after"].count(Transition.ENDED) == 2


def test_after_commit_is_told_once_when_a_conflict_runs_the_transaction_again(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, recorder = JobStore(clean_redis, 3600), Recorder()
    store.register(recorder)
    job_id = new_job(store)
    other = redis.Redis(connection_pool=clean_redis.connection_pool)
    reads = 0
    read = JobStore._read

    def read_then_conflict(pipe: Pipeline, read_id: str) -> Any:
        nonlocal reads
        reads += 1
        if reads == 1:  # another client writes the watched record before this transaction's EXEC
            other.hset(keys.job_key(read_id), "progress", "1.0")
        return read(pipe, read_id)

    monkeypatch.setattr(JobStore, "_read", staticmethod(read_then_conflict))

    assert store.cancel(job_id) == JobStatus.CANCELLED

    assert reads == 2
    # The in-transaction hook ran for both attempts, but only the committed attempt's writes count...
    assert [kind for kind, _ in recorder.seen].count("end") == 2
    # ...and after the commit, the participant is told once.
    assert [t for kind, t in recorder.seen if kind == "after"] == [Transition.CREATED, Transition.ENDED]
    assert clean_redis.lrange(NOTES, 0, -1) == [f"create {job_id}".encode(), f"end {job_id}".encode()]


class Failing(Participant):
    def after_commit(self, transition: Transition, job_id: str) -> None:
        raise RuntimeError("boom")


def test_a_participant_failing_after_the_commit_is_logged_and_stops_no_other(
    clean_redis: redis.Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    store = JobStore(clean_redis, 3600, participants=[Failing(), recorder])

    with caplog.at_level(logging.ERROR, "core.job_store"):
        job_id = new_job(store)

    assert ("after", Transition.CREATED) in recorder.seen
    assert f"job {job_id}: a participant failed after created" in caplog.text
    assert store.get(job_id).status == JobStatus.QUEUED


class UnreachableS3:
    def delete_object(self, **_: object) -> None:
        raise ConnectionRefusedError("no store")


def test_s3_audio_is_deleted_after_the_commit_and_a_failed_delete_is_left_to_the_sweep(
    clean_redis: redis.Redis, caplog: pytest.LogCaptureFixture,
) -> None:
    deleted: list[str] = []
    audio = S3AudioStore(UnreachableS3(), "audio", "jobs")
    store = JobStore(clean_redis, 3600, audio)
    job_id = new_job(store)

    with caplog.at_level(logging.WARNING, "core.s3_audio_store"):
        assert store.cancel(job_id) == JobStatus.CANCELLED

    assert store.get(job_id).status == JobStatus.CANCELLED  # the end stands
    assert f"job {job_id}: could not delete its audio yet (ConnectionRefusedError); the audio sweep will" in caplog.text

    audio.s3 = type("S3", (), {"delete_object": lambda self, **kw: deleted.append(kw["Key"])})()
    store.erase(job_id)
    assert deleted == [f"jobs/{job_id}"]
