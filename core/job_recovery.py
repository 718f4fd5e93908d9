"""Recovery of the job aggregate: bringing back into the flow a job whose run is gone (its worker
died, its message was lost), from any process."""

from __future__ import annotations

import time
from enum import StrEnum

from redis.client import Pipeline

from core import keys
from core.job_codec import encode, text
from core.job_participants import Transition
from core.job_transactions import JobTransactions
from core.jobs import JobStage, JobStatus
from core.redis_calls import as_text, hash_fields


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


class JobRecovery(JobTransactions):
    """Recovery's transitions (a base of `JobStore`)."""

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
