"""Reads of the job aggregate: its record, transcript and audio in Redis, and its indexes (the base of
`JobStore`, which owns every write)."""

from __future__ import annotations

import redis

from core import keys
from core.audio_store import read_pieces
from core.errors import NotFound
from core.job_codec import decode, text
from core.jobs import JobRecord, JobStatus, Transcript
from core.redis_calls import as_bytes, as_hash, as_scored, as_text, as_texts


class JobReads:
    """What any process may read of jobs, without a transaction."""

    redis: redis.Redis
    retention_seconds: int

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
            pipe.hget(keys.job_key(job_id), keys.TENANT_FIELD)
        return {job_id: as_text(t) for job_id, t in zip(job_ids, pipe.execute(), strict=True)}

    def is_cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(keys.job_key(job_id), "cancel_requested") == b"1"

    def open_jobs(self, sent_before: float, limit: int = 1000) -> list[str]:
        """Jobs not yet ended whose task was last sent before `sent_before` (epoch seconds), oldest first."""
        return as_texts(self.redis.zrangebyscore(keys.OPEN_JOBS, "-inf", sent_before, start=0, num=limit))
