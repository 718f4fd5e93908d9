"""Job records, audio blobs and transcripts in Redis."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import redis

from core import keys
from core.errors import NotFound
from core.jobs import JobRecord, JobStatus, Transcript

_JSON_FIELDS = {"options", "error"}

# Write only while the job record exists: an erased or expired job must not come back as a
# fragment without a TTL.
_HSET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return -1
"""
# Compare-and-set on the lock's owner: a worker that lost its lease must not extend or free the
# lease another worker now holds.
_RENEW_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _encode(record_fields: dict[str, Any]) -> dict[str, str]:
    encoded: dict[str, str] = {}
    for name, value in record_fields.items():
        if name in _JSON_FIELDS:
            encoded[name] = json.dumps(value)
        elif value is None:
            encoded[name] = ""
        elif isinstance(value, bool):
            encoded[name] = "1" if value else ""
        else:
            encoded[name] = str(value)
    return encoded


def _encode_fields(job_id: str, fields: dict[str, Any]) -> dict[str, str]:
    """Validate some JobRecord fields and encode just those for HSET."""
    template = JobRecord.model_validate({"id": job_id, "created_at": utcnow(), **fields})
    return _encode(template.model_dump(mode="json", include=set(fields)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _JSON_FIELDS:
            fields[name] = json.loads(value)
        elif name == "cancel_requested":
            fields[name] = value == "1"
        else:
            fields[name] = value if value != "" else None
    return {k: v for k, v in fields.items() if v is not None}


class JobStore:
    """The one place that reads and writes job state in Redis; API and worker share it."""

    def __init__(self, client: redis.Redis, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    def create(self, record: JobRecord, audio: bytes) -> None:
        """Store a new job and its audio atomically, both expiring after the retention period."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.job_key(record.id), mapping=cast(Any, _encode(record.model_dump(mode="json"))))
        pipe.expire(keys.job_key(record.id), self.retention_seconds)
        pipe.set(keys.audio_key(record.id), audio, ex=self.retention_seconds)
        pipe.execute()

    def get(self, job_id: str) -> JobRecord:
        raw = self.redis.hgetall(keys.job_key(job_id))
        if not raw:
            raise NotFound(f"no job with id {job_id}")
        decoded = {_text(k): _text(v) for k, v in raw.items()}
        return JobRecord.model_validate(_decode(decoded))

    def update(self, job_id: str, only_if: set[JobStatus] | None = None, **fields: Any) -> bool:
        """Set some fields of an existing job; with `only_if`, only while its status is one of those.

        Returns False (writing nothing) if the job was erased meanwhile or its status did not match.
        """
        encoded = _encode_fields(job_id, fields)
        key = keys.job_key(job_id)
        # Check-and-set under WATCH: DELETE may erase the hash, and writing then would resurrect a
        # partial record; a cancel may land between the worker's read and its write.
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    status = pipe.hget(key, "status")
                    if status is None or (only_if is not None and JobStatus(_text(status)) not in only_if):
                        pipe.reset()
                        return False
                    pipe.multi()
                    pipe.hset(key, mapping=cast(Any, encoded))
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def set_progress(self, job_id: str, progress: float) -> None:
        self.redis.eval(_HSET_IF_EXISTS, 1, keys.job_key(job_id), "progress", f"{progress:.1f}")  # type: ignore[no-untyped-call]

    def is_cancel_requested(self, job_id: str) -> bool:
        value = self.redis.hget(keys.job_key(job_id), "cancel_requested")
        return value == b"1"

    def get_audio(self, job_id: str) -> bytes | None:
        value = self.redis.get(keys.audio_key(job_id))
        return cast(bytes, value) if value is not None else None

    def get_result(self, job_id: str) -> Transcript | None:
        value = self.redis.get(keys.result_key(job_id))
        return Transcript.model_validate_json(value) if value is not None else None

    def erase(self, job_id: str) -> None:
        """Remove every trace of a job: record, audio, transcript."""
        self.redis.delete(
            keys.job_key(job_id), keys.audio_key(job_id), keys.result_key(job_id), keys.lock_key(job_id)
        )

    def finish(self, job_id: str, owner: str, transcript: Transcript | None = None, **fields: Any) -> bool:
        """End a job in one step, only while `owner` holds its lease and it is processing.

        Writes the outcome fields and the transcript (expiring with the job), deletes the audio and
        releases the lease together. False, with nothing written, if the lease was taken over or
        the job was cancelled before it started or erased: then its audio is someone else's business.
        """
        encoded = _encode_fields(job_id, fields)
        key, lock = keys.job_key(job_id), keys.lock_key(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key, lock)
                    status = pipe.hget(key, "status")
                    if pipe.get(lock) != owner.encode() or status is None or _text(status) != "processing":
                        pipe.reset()
                        return False
                    ttl = int(pipe.pttl(key))
                    pipe.multi()
                    pipe.hset(key, mapping=cast(Any, encoded))
                    if transcript is not None:
                        pipe.set(keys.result_key(job_id), transcript.model_dump_json(),
                                 px=ttl if ttl > 0 else self.retention_seconds * 1000)
                    pipe.delete(keys.audio_key(job_id), lock)
                    pipe.srem(keys.PROCESSING, job_id)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue

    def try_lock(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Claim a job for processing under a lease the owner keeps renewing; False if another holds it."""
        claimed = bool(self.redis.set(keys.lock_key(job_id), owner, nx=True, px=int(lease_seconds * 1000)))
        if claimed:
            self.redis.sadd(keys.PROCESSING, job_id)
        return claimed

    def renew_lock(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease if `owner` still holds it; False means the job was taken away."""
        renewed = self.redis.eval(  # type: ignore[no-untyped-call]
            _RENEW_IF_OWNER, 1, keys.lock_key(job_id), owner, int(lease_seconds * 1000))
        return bool(renewed)

    def unlock(self, job_id: str, owner: str) -> None:
        self.redis.eval(  # type: ignore[no-untyped-call]
            _RELEASE_IF_OWNER, 2, keys.lock_key(job_id), keys.PROCESSING, owner, job_id)

    def requeue_orphans(self) -> list[str]:
        """Jobs whose worker stopped renewing its lease (it died): put back to `queued` and returned.

        The caller sends each one's task again and then calls `forget_orphan`; until then the job
        stays in the processing set, so one that was requeued but not re-sent (the sender died in
        between) is returned again by the next sweep. A duplicate send is harmless: the runner skips
        a job it cannot lock or that already ended. A WATCH on the job and its lock makes sure no
        live worker's job is touched.
        """
        orphans = []
        for raw in self.redis.smembers(keys.PROCESSING):
            job_id = _text(raw)
            key, lock = keys.job_key(job_id), keys.lock_key(job_id)
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(key, lock)
                    if pipe.exists(lock):
                        pipe.reset()
                        continue
                    status = pipe.hget(key, "status")
                    current = _text(status) if status is not None else None
                    pipe.multi()
                    if current == JobStatus.PROCESSING.value:
                        pipe.hset(key, mapping={"status": "queued", "stage": "queued", "progress": "0.0",
                                                "worker": "", "started_at": ""})
                    elif current != JobStatus.QUEUED.value:
                        pipe.srem(keys.PROCESSING, job_id)  # ended or erased: nothing to rescue
                    pipe.execute()
                    if current in {JobStatus.PROCESSING.value, JobStatus.QUEUED.value}:
                        orphans.append(job_id)
                except redis.WatchError:
                    continue
        return orphans

    def forget_orphan(self, job_id: str) -> None:
        """The requeued job's task was sent: stop tracking it."""
        self.redis.srem(keys.PROCESSING, job_id)

    def mark_cancelled_if_queued(self, job_id: str) -> JobStatus:
        """Cancel a job atomically if it has not started; returns the status it ends with."""
        key = keys.job_key(job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    status = pipe.hget(key, "status")
                    if status is None:
                        raise NotFound(f"no job with id {job_id}")
                    current = JobStatus(_text(status))
                    pipe.multi()
                    if current == JobStatus.QUEUED:
                        now = utcnow().isoformat()
                        pipe.hset(key, mapping={"status": "cancelled", "stage": "done", "finished_at": now,
                                                "cancel_requested": "1"})
                        pipe.delete(keys.audio_key(job_id))
                        pipe.execute()
                        return JobStatus.CANCELLED
                    if current == JobStatus.PROCESSING:
                        pipe.hset(key, "cancel_requested", "1")
                    pipe.execute()
                    return current
                except redis.WatchError:
                    continue
