"""The job aggregate's transactions and its participants (`core.job_participants`): how a transition
reads under WATCH, stages its writes and every participant's, and tells them once it has committed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.client import Pipeline

from core import keys
from core.audio_store import JobAudio, RedisAudioStore
from core.document_store import NoteVersions
from core.errors import ErrorCode
from core.job_codec import decode, encode, utcnow
from core.job_history import HistoryIndex
from core.job_metrics import JobCounters
from core.job_participants import Ended, Participant, Transition
from core.job_reads import JobReads
from core.jobs import JobError, JobRecord, JobStage, JobStatus, Transcript
from core.quality_records import DEFAULT_QUALITY_RETENTION_SECONDS, QualityRecords, record_of
from core.quota_store import QuotaEntries
from core.redis_calls import as_bytes, as_hash, hash_fields, transact
from core.webhook_store import CallbackSchedule

log = logging.getLogger("core.job_store")

T = TypeVar("T")

WORKER_CRASHED = JobError(
    code=ErrorCode.WORKER_CRASHED,
    message="every attempt to transcribe this audio ended with its worker dying (out of memory, killed or "
            "lost); check the file, split it, or tell the operator",
)


def default_participants(quality_retention_seconds: int = DEFAULT_QUALITY_RETENTION_SECONDS) -> list[Participant]:
    """What changes with every job besides its audio: its key's quota entries, the job counters, its
    key's history, its callback, its note's versions, its key's quality records."""
    return [QuotaEntries(), JobCounters(), HistoryIndex(), CallbackSchedule(), NoteVersions(),
            QualityRecords(quality_retention_seconds)]


class JobTransactions(JobReads):
    """The participants, and the machinery every transition of `JobStore` runs on."""

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

    def committed(self, transition: Transition, job_id: str) -> None:
        """After a transition's transaction committed: each participant's `after_commit` (the store's
        own transitions call it; a caller that staged one on its own transaction calls it)."""
        for participant in self.participants:
            try:
                participant.after_commit(transition, job_id)
            except Exception:  # a participant must not raise here; one that does must not stop the others
                log.exception("job %s: a participant failed after %s", job_id, transition.value)

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
                             record.tenant if record else "", record.audio_seconds if record else None,
                             _queue_wait(record), record.options.keep_audio_seconds if record else 0)
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
            processing_seconds=fields.get("processing_seconds"), quality=record_of(transcript),
            keep_audio_seconds=_kept_for(snapshot))
        for participant in self.participants:
            participant.on_end(pipe, ending)
        ended.append(Transition.ENDED)


def _queue_wait(record: JobRecord | None) -> float | None:
    """Seconds from submission to the start of the job's current run; None if no run started it."""
    if record is None or record.started_at is None:
        return None
    return (record.started_at - record.created_at).total_seconds()


def _kept_for(snapshot: _Snapshot) -> int:
    """How long the audio of a job ending now is kept: what the job asked for, but never past its record
    (whose owner check guards the audio), so no kept audio outlives its job."""
    if snapshot.keep_audio_seconds <= 0:
        return 0
    left = snapshot.ttl_ms // 1000 if snapshot.ttl_ms > 0 else snapshot.keep_audio_seconds
    return max(0, min(snapshot.keep_audio_seconds, left))


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
    keep_audio_seconds: int = 0
    """What the job asked: its audio kept this long after its end (verification mode)."""
