"""The job aggregate in Redis: record, result, lease and open-jobs index, and the participants that
change with it (`core.job_participants`): the job's audio, its key's quota entries, the job counters,
its key's history, its callback.

Every transition (create, claim, end, cancel, erase, recover) is one Redis transaction that changes
all of them together, so no caller has to remember a second write and no crash between two writes
can leave a job half-ended; what cannot join a Redis transaction (audio in S3) is done right after it
commits. Read-then-write transitions are optimistic (WATCH, then MULTI/EXEC, retried on conflict).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import redis
from redis.client import Pipeline

from core import keys, leases
from core.audio_store import JobAudio, RedisAudioStore, read_pieces
from core.errors import NotFound
from core.job_codec import decode, encode, encode_record, text, utcnow
from core.job_history import HistoryIndex
from core.job_metrics import JobCounters
from core.job_participants import Created, Ended, Erased, Participant, Transition
from core.jobs import JobError, JobRecord, JobStage, JobStatus, Transcript
from core.quota_store import QuotaEntries
from core.redis_calls import Lua, as_bytes, as_hash, as_scored, as_text, as_texts, hash_fields, transact
from core.webhook_store import CallbackSchedule, WebhookConfig

__all__ = ["Claim", "JobStore", "Recovery", "utcnow"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Write only while `holder` holds the job's lease: a run that lost its job must not touch it.
_HSET_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
""")

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


def default_participants() -> list[Participant]:
    """What changes with every job besides its audio: its key's quota entries, the job counters, its
    key's history, its callback."""
    return [QuotaEntries(), JobCounters(), HistoryIndex(), CallbackSchedule()]


class JobStore:
    """The one place that reads and writes job state in Redis; API, worker and deliverer share it."""

    def __init__(self, client: redis.Redis, retention_seconds: int, audio: JobAudio | None = None,
                 participants: Sequence[Participant] | None = None) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds
        self.audio: JobAudio = audio if audio is not None else RedisAudioStore(client)
        """Where jobs' audio is: the participant every transition deletes it through."""
        self.participants: list[Participant] = [
            self.audio, *(participants if participants is not None else default_participants())]

    def register(self, participant: Participant) -> None:
        """Make `participant` take part in every transition from now on."""
        self.participants.append(participant)

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        raw = as_hash(self.redis.hgetall(keys.job_key(job_id)))
        if not raw:
            raise NotFound(f"no job with id {job_id}")
        return decode(raw)

    def get_audio(self, job_id: str) -> bytes | None:
        """The job's audio when it is kept in Redis (the default audio store)."""
        return read_pieces(self.redis, keys.audio_key(job_id))

    def get_result(self, job_id: str) -> Transcript | None:
        value = as_bytes(self.redis.get(keys.result_key(job_id)))
        return Transcript.model_validate_json(value) if value is not None else None

    def ready_jobs(self, limit: int) -> list[tuple[str, bool]]:
        """Up to `limit` queued jobs a worker may claim now, high-priority lane first, oldest first,
        each with whether it is in that lane.

        Advisory: an id can be stale (claimed a moment ago, erased); claiming it says so.
        """
        found = as_scored(self.redis.zrange(keys.READY, 0, limit - 1, withscores=True))
        return [(text(i), score < 0) for i, score in found]

    def forget_ready(self, job_id: str) -> None:
        """Drop a stale id from the ready set (its claim found it missing, ended or held)."""
        self.redis.zrem(keys.READY, job_id)

    def is_open(self, job_id: str) -> bool:
        """The job exists and has not ended: its audio is still needed."""
        status = as_text(self.redis.hget(keys.job_key(job_id), "status"))
        return status is not None and not JobStatus(status).is_final

    def tenants(self, job_ids: list[str]) -> dict[str, str | None]:
        """Each job's tenant (its record's `owner`: the API key's identity); None for a job erased or expired."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job_key(job_id), "owner")
        return {job_id: as_text(t) for job_id, t in zip(job_ids, pipe.execute(), strict=True)}

    owners = tenants
    """The earlier name of `tenants`."""

    def is_cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(keys.job_key(job_id), "cancel_requested") == b"1"

    # ---- transitions ---------------------------------------------------------------------------

    def create(self, record: JobRecord, callback: WebhookConfig | None = None) -> None:
        """Store a new job and its callback, and open it, all expiring after the retention.

        Its audio is already in the audio store (`self.audio`), under the job's id: the job store never
        takes audio bytes, so no path can keep a job's audio anywhere the worker does not read it.
        """
        pipe = self.redis.pipeline(transaction=True)
        self.stage_create(pipe, record, callback)
        pipe.execute()
        self.committed(Transition.CREATED, record.id)

    def stage_create(self, pipe: Pipeline, record: JobRecord, callback: WebhookConfig | None = None) -> None:
        """Queue `create`'s writes on a MULTI pipeline, for a caller whose own transition makes the job
        (a live session ending: `core.session_store`), which calls `committed` once it has committed."""
        ttl, now = self.retention_seconds, time.time()
        pipe.hset(keys.job_key(record.id), mapping=hash_fields(encode_record(record)))
        pipe.expire(keys.job_key(record.id), ttl)
        pipe.zadd(keys.OPEN_JOBS, {record.id: now})
        pipe.zadd(keys.READY, {record.id: keys.ready_score(now, record.options.priority)})
        created = Created(record, callback, now, ttl)
        for participant in self.participants:
            participant.on_create(pipe, created)

    def claim(self, job_id: str, holder: str, worker: str, lease_seconds: float, max_attempts: int) -> Claim:
        """Take a queued job (or one whose lease lapsed) for a run, counting the attempt.

        A job whose attempts are used up is failed `worker_crashed` here instead, so a file that kills
        every worker that opens it costs `max_attempts` worker lives, not the fleet's.
        """

        def body(pipe: Pipeline, ended: list[Transition]) -> Claim:
            record, snapshot = self._read(pipe, job_id)
            if record is None:
                return Claim.MISSING
            if record.status.is_final:
                return Claim.ENDED
            if pipe.exists(keys.lease_key(job_id)):
                return Claim.HELD
            pipe.multi()
            status = self._stage_end_if_spent(pipe, ended, job_id, record, snapshot, max_attempts)
            if status is not None:
                return Claim.CANCELLED if status == JobStatus.CANCELLED else Claim.EXHAUSTED
            pipe.set(keys.lease_key(job_id), holder, px=int(lease_seconds * 1000))
            pipe.zrem(keys.READY, job_id)
            fields = encode(job_id, {
                "status": JobStatus.PROCESSING, "stage": JobStage.DECODING, "progress": 0.0,
                "started_at": utcnow(), "worker": worker, "attempts": record.attempts + 1, "error": None,
            })
            pipe.hset(keys.job_key(job_id), mapping=hash_fields(fields))
            return Claim.CLAIMED

        return self._transact(job_id, body)

    def update(self, job_id: str, holder: str, **fields: Any) -> bool:
        """Set fields of a running job while `holder` holds its lease; False (nothing written) otherwise."""
        pairs = [part for item in encode(job_id, fields).items() for part in item]
        return bool(_HSET_IF_HOLDER(self.redis, [keys.job_key(job_id), keys.lease_key(job_id)], holder, *pairs))

    def end(
        self, job_id: str, holder: str, status: JobStatus, transcript: Transcript | None = None, **fields: Any
    ) -> bool:
        """End a run's job: outcome, transcript, audio deleted, lease released, callback scheduled.

        One transaction, and only while `holder` holds the lease: False, with nothing written, if the
        lease was taken over or the job erased (its audio is then someone else's business).
        """

        def body(pipe: Pipeline, ended: list[Transition]) -> bool:
            record, snapshot = self._read(pipe, job_id)
            if record is None or record.status != JobStatus.PROCESSING:
                return False
            if pipe.get(keys.lease_key(job_id)) != holder.encode():
                return False
            pipe.multi()
            self._stage_end(pipe, ended, job_id, status, snapshot, transcript, **fields)
            return True

        return self._transact(job_id, body)

    finish = end
    """The earlier name of `end`."""

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job: a queued one ends at once (callback included), a running one is asked to stop."""

        def body(pipe: Pipeline, ended: list[Transition]) -> JobStatus:
            record, snapshot = self._read(pipe, job_id)
            if record is None:
                raise NotFound(f"no job with id {job_id}")
            if record.status == JobStatus.QUEUED:
                pipe.multi()
                self._stage_end(pipe, ended, job_id, JobStatus.CANCELLED, snapshot, cancel_requested=True)
                return JobStatus.CANCELLED
            if record.status == JobStatus.PROCESSING:
                pipe.multi()
                pipe.hset(keys.job_key(job_id), "cancel_requested", "1")
            return record.status

        return self._transact(job_id, body)

    def erase(self, job_id: str) -> None:
        """Remove every trace of a job: record, audio, transcript, lease, callback, index entries."""
        tenant = as_text(self.redis.hget(keys.job_key(job_id), "owner"))
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.job_key(job_id), keys.result_key(job_id), keys.lease_key(job_id))
        pipe.zrem(keys.OPEN_JOBS, job_id)
        pipe.zrem(keys.READY, job_id)
        erased = Erased(job_id, tenant)
        for participant in self.participants:
            participant.on_erase(pipe, erased)
        pipe.execute()
        self.committed(Transition.ERASED, job_id)

    def committed(self, transition: Transition, job_id: str) -> None:
        """After a transition's transaction committed: each participant's `after_commit` (the store's
        own transitions call it; a caller that staged one on its own transaction calls it)."""
        for participant in self.participants:
            try:
                participant.after_commit(transition, job_id)
            except Exception:  # a participant must not raise here; one that does must not stop the others
                log.exception("job %s: a participant failed after %s", job_id, transition.value)

    # ---- leases --------------------------------------------------------------------------------

    def renew_lease(self, job_id: str, holder: str, lease_seconds: float) -> bool:
        """Extend the lease if `holder` still holds it; False means the job was taken away."""
        return leases.renew(self.redis, keys.lease_key(job_id), holder, lease_seconds)

    def release_lease(self, job_id: str, holder: str) -> None:
        """Give up a run without an outcome: the job stays open and recovery requeues it at once."""
        leases.release(self.redis, keys.lease_key(job_id), holder)

    renew_lock = renew_lease
    """The earlier name of `renew_lease`."""
    release_lock = release_lease
    """The earlier name of `release_lease`."""

    # ---- recovery ------------------------------------------------------------------------------

    def open_jobs(self, sent_before: float, limit: int = 1000) -> list[str]:
        """Jobs not yet ended whose task was last sent before `sent_before` (epoch seconds), oldest first."""
        return as_texts(self.redis.zrangebyscore(keys.OPEN_JOBS, "-inf", sent_before, start=0, num=limit))

    def recover(self, job_id: str, max_attempts: int, sent_before: float) -> Recovery:
        """Bring one open job back into the flow if the run that held it is gone. Safe from any process.

        A job (re)sent after `sent_before` (by another sweeper a moment ago) is left alone.
        """

        def body(pipe: Pipeline, ended: list[Transition]) -> Recovery:
            record, snapshot = self._read(pipe, job_id)
            if record is None or record.status.is_final:
                pipe.multi()
                pipe.zrem(keys.OPEN_JOBS, job_id)
                return Recovery.FORGOTTEN
            # Advisory: the index is not watched (every job's create and end touch it, so watching it
            # would make transactions collide); a race costs only a duplicate send.
            sent = pipe.zscore(keys.OPEN_JOBS, job_id)
            if pipe.exists(keys.lease_key(job_id)) or (sent is not None and sent > sent_before):
                return Recovery.NOTHING
            if record.status == JobStatus.QUEUED:
                return Recovery.WAITING
            pipe.multi()
            if self._stage_end_if_spent(pipe, ended, job_id, record, snapshot, max_attempts) is not None:
                return Recovery.ENDED
            fields = encode(job_id, {"status": JobStatus.QUEUED, "stage": JobStage.QUEUED, "progress": 0.0,
                                     "worker": None, "started_at": None})
            pipe.hset(keys.job_key(job_id), mapping=hash_fields(fields))
            # Counts as sent now: the caller sends it next, and other sweepers leave it alone.
            now = time.time()
            pipe.zadd(keys.OPEN_JOBS, {job_id: now}, xx=True)
            pipe.zadd(keys.READY, {job_id: keys.ready_score(now, record.options.priority)})
            return Recovery.REQUEUED

        return self._transact(job_id, body)

    def index_open_jobs(self) -> int:
        """Add every unended job to the open-jobs index once, for jobs stored before the index existed
        (an upgrade in place); later calls do nothing. Returns how many were added."""
        if not self.redis.set(keys.OPEN_JOBS_INDEXED, "1", nx=True):
            return 0
        added = 0
        for key in self.redis.scan_iter(match=keys.job_key("*"), count=500):
            status = as_text(self.redis.hget(key, "status"))
            if status is not None and not JobStatus(status).is_final:
                job_id = text(key).rsplit(":", 1)[1]
                added += int(self.redis.zadd(keys.OPEN_JOBS, {job_id: 0}, nx=True) or 0)
        return added

    def mark_sent(self, job_id: str, at: float | None = None) -> None:
        """Its task was (re)sent now: recovery leaves it alone for a grace period."""
        self.redis.zadd(keys.OPEN_JOBS, {job_id: at or time.time()}, xx=True)

    # ---- helpers -------------------------------------------------------------------------------

    def _transact(self, job_id: str, body: Callable[[Pipeline, list[Transition]], T]) -> T:
        """Run `body` as one optimistic transaction over the job's keys (re-run on conflict): reads before
        `pipe.multi()`, writes after. `body` appends what it staged (an end) to the list it is given;
        once the transaction commits, the participants are told."""
        staged: list[Transition] = []

        def attempt(pipe: Pipeline) -> T:
            staged.clear()  # a re-run after a conflict starts again
            return body(pipe, staged)

        value = transact(self.redis, attempt, keys.job_key(job_id), keys.lease_key(job_id),
                         keys.webhook_key(job_id))
        for transition in staged:
            self.committed(transition, job_id)
        return value

    @staticmethod
    def _read(pipe: Pipeline, job_id: str) -> tuple[JobRecord | None, _Snapshot]:
        """Under WATCH, before MULTI: the job and what ending it needs to know."""
        raw = as_hash(pipe.hgetall(keys.job_key(job_id)))
        record = decode(raw) if raw else None
        snapshot = _Snapshot(as_bytes(pipe.get(keys.webhook_key(job_id))), int(pipe.pttl(keys.job_key(job_id))),
                             record.owner if record else "", record.audio_seconds if record else None,
                             _queue_wait(record))
        return record, snapshot

    def _stage_end_if_spent(
        self, pipe: Pipeline, ended: list[Transition], job_id: str, record: JobRecord, snapshot: _Snapshot,
        max_attempts: int,
    ) -> JobStatus | None:
        """After MULTI, for a job no run holds: end it if it must not run again (its cancel was asked
        for while a run that then died held it, or its attempts are spent). Returns how it ended."""
        if record.cancel_requested:
            self._stage_end(pipe, ended, job_id, JobStatus.CANCELLED, snapshot)
            return JobStatus.CANCELLED
        if record.attempts >= max_attempts:
            self._stage_end(pipe, ended, job_id, JobStatus.FAILED, snapshot, error=WORKER_CRASHED)
            return JobStatus.FAILED
        return None

    def _stage_end(
        self, pipe: Pipeline, ended: list[Transition], job_id: str, status: JobStatus, snapshot: _Snapshot,
        transcript: Transcript | None = None, **fields: Any,
    ) -> None:
        """After MULTI: the writes that end a job, whoever ends it."""
        outcome = {"status": status, "stage": JobStage.DONE, "finished_at": utcnow(), **fields}
        pipe.hset(keys.job_key(job_id), mapping=hash_fields(encode(job_id, outcome)))
        if transcript is not None:
            # The transcript expires with the job record (retention counts from submission).
            ttl_ms = snapshot.ttl_ms if snapshot.ttl_ms > 0 else self.retention_seconds * 1000
            pipe.set(keys.result_key(job_id), transcript.model_dump_json(), px=ttl_ms)
        pipe.delete(keys.lease_key(job_id))
        pipe.zrem(keys.OPEN_JOBS, job_id)
        pipe.zrem(keys.READY, job_id)
        error = fields.get("error")
        ending = Ended(
            job_id=job_id, status=status, tenant=snapshot.tenant, now=time.time(), callback=snapshot.webhook,
            error_code=error.code if isinstance(error, JobError) else None,
            audio_seconds=fields.get("audio_seconds", snapshot.audio_seconds), queue_wait=snapshot.queue_wait,
            processing_seconds=fields.get("processing_seconds"))
        for participant in self.participants:
            participant.on_end(pipe, ending)
        ended.append(Transition.ENDED)


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
    """The API key's identity the job belongs to (the record's `owner`), whose quotas its end updates."""
    audio_seconds: float | None = None
    """The decoded duration, once a worker learnt it: charged to the key's daily audio."""
    queue_wait: float | None = None
    """Seconds the job waited before its current run started (None: no run started it)."""
