"""The job aggregate in Redis: record, result, lease and open-jobs index, and the participants that
change with it (`core.job_participants`): the job's audio, its key's quota entries, the job counters,
its key's history, its callback.

Every transition (create, claim, end, cancel, erase, recover) is one Redis transaction that changes
all of them together, so no caller has to remember a second write and no crash between two writes
can leave a job half-ended; what cannot join a Redis transaction (audio in S3) is done right after it
commits. Read-then-write transitions are optimistic (WATCH, then MULTI/EXEC, retried on conflict).

`JobStore` joins the aggregate's parts: its reads (`core.job_reads`), the transaction machinery and the
participants (`core.job_transactions`), recovery (`core.job_recovery`); this module holds the
transitions a job goes through in the API and its run (create, claim, update, end, cancel, erase) and
its lease.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from redis.client import Pipeline

from core import keys, leases
from core.errors import NotFound
from core.job_codec import encode, encode_record, utcnow
from core.job_participants import Created, Erased, Transition
from core.job_recovery import JobRecovery, Recovery
from core.job_transactions import WORKER_CRASHED, default_participants
from core.jobs import JobRecord, JobStage, JobStatus, Transcript
from core.redis_calls import Lua, as_text, hash_fields
from core.webhook_records import WebhookConfig

__all__ = ["WORKER_CRASHED", "Claim", "JobStore", "Recovery", "default_participants", "utcnow"]

# Write only while `holder` holds the job's lease: a run that lost its job must not touch it.
_HSET_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
""")


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


class JobStore(JobRecovery):
    """The one place that writes job state in Redis; API, worker and deliverer share it.

    `JobStore(client, retention_seconds, audio)`: `audio` is where jobs' audio is kept (Redis when
    omitted), and takes part in every transition; `participants` replaces the default others
    (`default_participants`), and `register` adds one.
    """

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
        tenant = as_text(self.redis.hget(keys.job_key(job_id), keys.TENANT_FIELD))
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.job_key(job_id), keys.result_key(job_id), keys.lease_key(job_id))
        pipe.zrem(keys.OPEN_JOBS, job_id)
        pipe.zrem(keys.READY, job_id)
        erased = Erased(job_id, tenant)
        for participant in self.participants:
            participant.on_erase(pipe, erased)
        pipe.execute()
        self.committed(Transition.ERASED, job_id)

    # ---- leases --------------------------------------------------------------------------------

    def renew_lease(self, job_id: str, holder: str, lease_seconds: float) -> bool:
        """Extend the lease if `holder` still holds it; False means the job was taken away."""
        return leases.renew(self.redis, keys.lease_key(job_id), holder, lease_seconds)

    def release_lease(self, job_id: str, holder: str) -> None:
        """Give up a run without an outcome: the job stays open and recovery requeues it at once."""
        leases.release(self.redis, keys.lease_key(job_id), holder)

    def give_back(self, job_id: str, holder: str) -> bool:
        """Put a running job back in the queue with its attempt given back, for a run that cannot go on
        through no fault of the job (the audio store is out): its audio and callback untouched, counted
        as sent now (recovery sends it again after its grace period), the lease released. One
        transaction, only while `holder` holds the lease; False, with nothing written, otherwise."""

        def body(pipe: Pipeline, ended: list[Transition]) -> bool:
            record, _ = self._read(pipe, job_id)
            if record is None or pipe.get(keys.lease_key(job_id)) != holder.encode():
                return False
            pipe.multi()
            fields = encode(job_id, {"status": JobStatus.QUEUED, "stage": JobStage.QUEUED, "progress": 0.0,
                                     "worker": None, "started_at": None, "attempts": max(0, record.attempts - 1)})
            pipe.hset(keys.job_key(job_id), mapping=hash_fields(fields))
            pipe.zadd(keys.OPEN_JOBS, {job_id: time.time()}, xx=True)
            pipe.delete(keys.lease_key(job_id))
            return True

        return self._transact(job_id, body)
