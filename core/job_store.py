"""The job aggregate in Redis: record, audio, result, lease, callback, open-jobs index and its key's
quota entries (`core.quota_store`).

Every transition (create, claim, end, cancel, erase, recover) is one Redis transaction that changes
all of them together, so no caller has to remember a second write and no crash between two writes
can leave a job half-ended. Read-then-write transitions are optimistic (WATCH, then MULTI/EXEC,
retried on conflict) through redis-py's `Redis.transaction` helper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar, cast

import redis
from redis.client import Pipeline

from core import job_history, job_metrics, keys, leases, quota_store
from core.audio_store import read_pieces
from core.errors import NotFound
from core.job_codec import decode, encode, encode_record, text, utcnow
from core.jobs import JobError, JobRecord, JobStage, JobStatus, Transcript
from core.webhook_store import WebhookConfig, event_for, new_record, stage_schedule

__all__ = ["Claim", "JobStore", "Recovery", "utcnow"]

T = TypeVar("T")

# Write only while `owner` holds the job's lease: a run that lost its job must not touch it.
_HSET_IF_OWNER = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
"""

WORKER_CRASHED = JobError(
    code="worker_crashed",
    message="every attempt to transcribe this audio ended with its worker dying (out of memory, killed or "
            "lost); check the file, split it, or tell the operator",
)


class Claim(StrEnum):
    """What `JobStore.claim` found."""

    CLAIMED = "claimed"
    MISSING = "missing"
    ENDED = "ended"
    HELD = "held"
    EXHAUSTED = "exhausted"
    """Its attempts ran out: the claim failed it (`worker_crashed`) instead."""
    CANCELLED = "cancelled"
    """Cancelled while a worker that then died held it: the claim ended it."""


class Recovery(StrEnum):
    """What `JobStore.recover` did with one open job."""

    NOTHING = "nothing"
    """A live lease holds it."""
    WAITING = "waiting"
    """Queued: the caller checks the broker for its message."""
    REQUEUED = "requeued"
    """Its lease lapsed mid-run: back to queued; the caller sends its task."""
    ENDED = "ended"
    """Its lease lapsed and its attempts ran out (or it was cancelled): ended now."""
    FORGOTTEN = "forgotten"
    """Already ended, erased or expired: dropped from the index."""


class JobStore:
    """The one place that reads and writes job state in Redis; API, worker and deliverer share it."""

    def __init__(self, client: redis.Redis, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        raw = self.redis.hgetall(keys.job_key(job_id))
        if not raw:
            raise NotFound(f"no job with id {job_id}")
        return decode(cast(dict[bytes, bytes], raw))

    def get_audio(self, job_id: str) -> bytes | None:
        """The job's audio when it is kept in Redis (the default audio store)."""
        return read_pieces(self.redis, keys.audio_key(job_id))

    def get_result(self, job_id: str) -> Transcript | None:
        value = self.redis.get(keys.result_key(job_id))
        return Transcript.model_validate_json(value) if value is not None else None

    def ready_jobs(self, limit: int) -> list[tuple[str, bool]]:
        """Up to `limit` queued jobs a worker may claim now, high-priority lane first, oldest first,
        each with whether it is in that lane.

        Advisory: an id can be stale (claimed a moment ago, erased); claiming it says so.
        """
        found = cast(list[tuple[bytes, float]], self.redis.zrange(keys.READY, 0, limit - 1, withscores=True))
        return [(text(i), score < 0) for i, score in found]

    def forget_ready(self, job_id: str) -> None:
        """Drop a stale id from the ready set (its claim found it missing, ended or held)."""
        self.redis.zrem(keys.READY, job_id)

    def is_open(self, job_id: str) -> bool:
        """The job exists and has not ended: its audio is still needed."""
        status = self.redis.hget(keys.job_key(job_id), "status")
        return status is not None and not JobStatus(text(cast(bytes, status))).is_final

    def owners(self, job_ids: list[str]) -> dict[str, str | None]:
        """Each job's API key (its record's `owner`); None for a job erased or expired."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job_key(job_id), "owner")
        return {job_id: text(cast(bytes, o)) if o is not None else None
                for job_id, o in zip(job_ids, pipe.execute(), strict=True)}

    def is_cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(keys.job_key(job_id), "cancel_requested") == b"1"

    # ---- transitions ---------------------------------------------------------------------------

    def create(self, record: JobRecord, callback: WebhookConfig | None = None) -> None:
        """Store a new job and its callback, and open it, all expiring after the retention.

        Its audio is already in the audio store (`core.audio_store`), under the job's id: the job store
        never takes audio bytes, so no path can keep a job's audio anywhere the worker does not read it.
        In Redis, the audio's pieces are given the retention TTL here, in the same transaction.
        """
        pipe = self.redis.pipeline(transaction=True)
        self.stage_create(pipe, record, callback)
        pipe.execute()

    def stage_create(self, pipe: Pipeline, record: JobRecord, callback: WebhookConfig | None = None) -> None:
        """Queue `create`'s writes on a MULTI pipeline, for a caller whose own transition makes the job
        (a live session ending: `core.session_store`)."""
        ttl, now = self.retention_seconds, time.time()
        pipe.hset(keys.job_key(record.id), mapping=cast(Any, encode_record(record)))
        pipe.expire(keys.job_key(record.id), ttl)
        pipe.expire(keys.audio_key(record.id), ttl)  # Redis-stored audio lives as long as its job
        if callback is not None:
            pipe.set(keys.webhook_key(record.id), new_record(record.id, callback).model_dump_json(), ex=ttl)
        pipe.zadd(keys.OPEN_JOBS, {record.id: now})
        pipe.zadd(keys.READY, {record.id: keys.ready_score(now, record.options.priority)})
        quota_store.stage_open(pipe, record.owner, record.id, now)
        job_metrics.stage_submitted(pipe, record.audio_format)
        job_history.stage_add(pipe, record.owner, record.id, record.created_at.timestamp(), ttl)

    def claim(self, job_id: str, owner: str, worker: str, lease_seconds: float, max_attempts: int) -> Claim:
        """Take a queued job (or one whose lease lapsed) for a run, counting the attempt.

        A job whose attempts are used up is failed `worker_crashed` here instead, so a file that kills
        every worker that opens it costs `max_attempts` worker lives, not the fleet's.
        """

        def body(pipe: Pipeline) -> Claim:
            record, snapshot = self._read(pipe, job_id)
            if record is None:
                return Claim.MISSING
            if record.status.is_final:
                return Claim.ENDED
            if pipe.exists(keys.lock_key(job_id)):
                return Claim.HELD
            pipe.multi()
            ended = self._stage_end_if_spent(pipe, job_id, record, snapshot, max_attempts)
            if ended is not None:
                return Claim.CANCELLED if ended == JobStatus.CANCELLED else Claim.EXHAUSTED
            pipe.set(keys.lock_key(job_id), owner, px=int(lease_seconds * 1000))
            pipe.zrem(keys.READY, job_id)
            fields = encode(job_id, {
                "status": JobStatus.PROCESSING, "stage": JobStage.DECODING, "progress": 0.0,
                "started_at": utcnow(), "worker": worker, "attempts": record.attempts + 1, "error": None,
            })
            pipe.hset(keys.job_key(job_id), mapping=cast(Any, fields))
            return Claim.CLAIMED

        return self._transact(body, job_id)

    def update(self, job_id: str, owner: str, **fields: Any) -> bool:
        """Set fields of a running job while `owner` holds its lease; False (nothing written) otherwise."""
        pairs = [part for item in encode(job_id, fields).items() for part in item]
        written = self.redis.eval(  # type: ignore[no-untyped-call]
            _HSET_IF_OWNER, 2, keys.job_key(job_id), keys.lock_key(job_id), owner, *pairs)
        return bool(written)

    def finish(
        self, job_id: str, owner: str, status: JobStatus, transcript: Transcript | None = None, **fields: Any
    ) -> bool:
        """End a run's job: outcome, transcript, audio deleted, lease released, callback scheduled.

        One transaction, and only while `owner` holds the lease: False, with nothing written, if the
        lease was taken over or the job erased (its audio is then someone else's business).
        """

        def body(pipe: Pipeline) -> bool:
            record, snapshot = self._read(pipe, job_id)
            if record is None or record.status != JobStatus.PROCESSING:
                return False
            if pipe.get(keys.lock_key(job_id)) != owner.encode():
                return False
            pipe.multi()
            self._stage_end(pipe, job_id, status, snapshot, transcript, **fields)
            return True

        return self._transact(body, job_id)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job: a queued one ends at once (callback included), a running one is asked to stop."""

        def body(pipe: Pipeline) -> JobStatus:
            record, snapshot = self._read(pipe, job_id)
            if record is None:
                raise NotFound(f"no job with id {job_id}")
            if record.status == JobStatus.QUEUED:
                pipe.multi()
                self._stage_end(pipe, job_id, JobStatus.CANCELLED, snapshot, cancel_requested=True)
                return JobStatus.CANCELLED
            if record.status == JobStatus.PROCESSING:
                pipe.multi()
                pipe.hset(keys.job_key(job_id), "cancel_requested", "1")
            return record.status

        return self._transact(body, job_id)

    def erase(self, job_id: str) -> None:
        """Remove every trace of a job: record, audio, transcript, lease, callback, index entries."""
        tenant = self.redis.hget(keys.job_key(job_id), "owner")
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.job_key(job_id), keys.audio_key(job_id), keys.result_key(job_id),
                    keys.lock_key(job_id), keys.webhook_key(job_id))
        pipe.zrem(keys.OPEN_JOBS, job_id)
        pipe.zrem(keys.READY, job_id)
        pipe.zrem(keys.WEBHOOK_DUE, job_id)
        if tenant is not None:
            quota_store.stage_erase(pipe, text(cast(bytes, tenant)), job_id)
            job_history.stage_remove(pipe, text(cast(bytes, tenant)), job_id)
        pipe.execute()

    # ---- leases --------------------------------------------------------------------------------

    def renew_lock(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease if `owner` still holds it; False means the job was taken away."""
        return leases.renew(self.redis, keys.lock_key(job_id), owner, lease_seconds)

    def release_lock(self, job_id: str, owner: str) -> None:
        """Give up a run without an outcome: the job stays open and recovery requeues it at once."""
        leases.release(self.redis, keys.lock_key(job_id), owner)

    # ---- recovery ------------------------------------------------------------------------------

    def open_jobs(self, sent_before: float, limit: int = 1000) -> list[str]:
        """Jobs not yet ended whose task was last sent before `sent_before` (epoch seconds), oldest first."""
        ids = self.redis.zrangebyscore(keys.OPEN_JOBS, "-inf", sent_before, start=0, num=limit)
        return [text(cast(bytes, i)) for i in ids]

    def recover(self, job_id: str, max_attempts: int, sent_before: float) -> Recovery:
        """Bring one open job back into the flow if the run that held it is gone. Safe from any process.

        A job (re)sent after `sent_before` (by another sweeper a moment ago) is left alone.
        """

        def body(pipe: Pipeline) -> Recovery:
            record, snapshot = self._read(pipe, job_id)
            if record is None or record.status.is_final:
                pipe.multi()
                pipe.zrem(keys.OPEN_JOBS, job_id)
                return Recovery.FORGOTTEN
            # Advisory: the index is not watched (every job's create and end touch it, so watching it
            # would make transactions collide); a race costs only a duplicate send.
            sent = pipe.zscore(keys.OPEN_JOBS, job_id)
            if pipe.exists(keys.lock_key(job_id)) or (sent is not None and sent > sent_before):
                return Recovery.NOTHING
            if record.status == JobStatus.QUEUED:
                return Recovery.WAITING
            pipe.multi()
            if self._stage_end_if_spent(pipe, job_id, record, snapshot, max_attempts) is not None:
                return Recovery.ENDED
            fields = encode(job_id, {"status": JobStatus.QUEUED, "stage": JobStage.QUEUED, "progress": 0.0,
                                     "worker": None, "started_at": None})
            pipe.hset(keys.job_key(job_id), mapping=cast(Any, fields))
            # Counts as sent now: the caller sends it next, and other sweepers leave it alone.
            now = time.time()
            pipe.zadd(keys.OPEN_JOBS, {job_id: now}, xx=True)
            pipe.zadd(keys.READY, {job_id: keys.ready_score(now, record.options.priority)})
            return Recovery.REQUEUED

        return self._transact(body, job_id)

    def index_open_jobs(self) -> int:
        """Add every unended job to the open-jobs index once, for jobs stored before the index existed
        (an upgrade in place); later calls do nothing. Returns how many were added."""
        if not self.redis.set(keys.OPEN_JOBS_INDEXED, "1", nx=True):
            return 0
        added = 0
        for key in self.redis.scan_iter(match=keys.job_key("*"), count=500):
            status = self.redis.hget(key, "status")
            if status is not None and not JobStatus(text(status)).is_final:
                job_id = text(key).rsplit(":", 1)[1]
                added += int(self.redis.zadd(keys.OPEN_JOBS, {job_id: 0}, nx=True) or 0)
        return added

    def mark_sent(self, job_id: str, at: float | None = None) -> None:
        """Its task was (re)sent now: recovery leaves it alone for a grace period."""
        self.redis.zadd(keys.OPEN_JOBS, {job_id: at or time.time()}, xx=True)

    # ---- helpers -------------------------------------------------------------------------------

    def _transact(self, body: Callable[[Pipeline], T], job_id: str) -> T:
        """Run `body` as one optimistic transaction over the job's keys (redis-py re-runs it on conflict):
        reads before `pipe.multi()`, writes after; a body that never calls multi writes nothing."""
        watched = (keys.job_key(job_id), keys.lock_key(job_id), keys.webhook_key(job_id))
        return cast(T, self.redis.transaction(cast(Any, body), *watched, value_from_callable=True))

    @staticmethod
    def _read(pipe: Pipeline, job_id: str) -> tuple[JobRecord | None, _Snapshot]:
        """Under WATCH, before MULTI: the job and what ending it needs to know."""
        raw = pipe.hgetall(keys.job_key(job_id))
        record = decode(cast(dict[bytes, bytes], raw)) if raw else None
        snapshot = _Snapshot(cast(bytes | None, pipe.get(keys.webhook_key(job_id))),
                             int(pipe.pttl(keys.job_key(job_id))),
                             record.owner if record else "", record.audio_seconds if record else None,
                             _queue_wait(record))
        return record, snapshot

    def _stage_end_if_spent(
        self, pipe: Pipeline, job_id: str, record: JobRecord, snapshot: _Snapshot, max_attempts: int,
    ) -> JobStatus | None:
        """After MULTI, for a job no run holds: end it if it must not run again (its cancel was asked
        for while a run that then died held it, or its attempts are spent). Returns how it ended."""
        if record.cancel_requested:
            self._stage_end(pipe, job_id, JobStatus.CANCELLED, snapshot)
            return JobStatus.CANCELLED
        if record.attempts >= max_attempts:
            self._stage_end(pipe, job_id, JobStatus.FAILED, snapshot, error=WORKER_CRASHED)
            return JobStatus.FAILED
        return None

    def _stage_end(
        self, pipe: Pipeline, job_id: str, status: JobStatus, snapshot: _Snapshot,
        transcript: Transcript | None = None, **fields: Any,
    ) -> None:
        """After MULTI: the writes that end a job, whoever ends it."""
        outcome = {"status": status, "stage": JobStage.DONE, "finished_at": utcnow(), **fields}
        pipe.hset(keys.job_key(job_id), mapping=cast(Any, encode(job_id, outcome)))
        if transcript is not None:
            # The transcript expires with the job record (retention counts from submission).
            ttl_ms = snapshot.ttl_ms if snapshot.ttl_ms > 0 else self.retention_seconds * 1000
            pipe.set(keys.result_key(job_id), transcript.model_dump_json(), px=ttl_ms)
        pipe.delete(keys.audio_key(job_id), keys.lock_key(job_id))
        pipe.zrem(keys.OPEN_JOBS, job_id)
        pipe.zrem(keys.READY, job_id)
        now = time.time()
        audio_seconds = fields.get("audio_seconds", snapshot.audio_seconds)
        quota_store.stage_end(pipe, snapshot.tenant, job_id, audio_seconds, now)
        stage_schedule(pipe, job_id, snapshot.webhook, event_for(status.value), now)
        error = fields.get("error")
        job_metrics.stage_ended(pipe, status.value, error.code if isinstance(error, JobError) else None,
                                snapshot.queue_wait, fields.get("processing_seconds"), audio_seconds)


def _queue_wait(record: JobRecord | None) -> float | None:
    """Seconds from submission to the start of the job's current run; None if no run started it."""
    if record is None or record.started_at is None:
        return None
    return (record.started_at - record.created_at).total_seconds()


@dataclass(frozen=True)
class _Snapshot:
    webhook: bytes | None
    """The job's callback record as read under the transaction's WATCH (None: no callback)."""
    ttl_ms: int
    """The job record's remaining lifetime."""
    tenant: str = ""
    """The API key the job belongs to (the record's `owner`), whose quotas its end updates."""
    audio_seconds: float | None = None
    """The decoded duration, once a worker learnt it: charged to the key's daily audio."""
    queue_wait: float | None = None
    """Seconds the job waited before its current run started (None: no run started it)."""
