"""Per-key quota state in Redis: each API key's open jobs, and the audio charged to it per UTC day.

Both change inside the job's own transactions, through the job store's participant `QuotaEntries`
(`stage_open` when a job is created, `stage_end` when it ends, `stage_erase` when it is erased), so they
follow jobs however they end. The
API reads them to admit work; `QuotaStore.reserve` makes the in-flight check and the count one step, so
concurrent submissions of one key cannot all slip under its limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Created, Ended, Erased, Participant
from core.jobs import JobStatus
from core.redis_calls import Lua, as_bytes, as_int, as_texts

DAY_SECONDS = 86400

# Count the key's open jobs and, under its limit, count this one too: one step, so two concurrent
# submissions never both see the last free place.
_RESERVE = Lua("""
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[3]) then return open end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return -1
""")


def utc_day(epoch: float) -> str:
    """The UTC calendar day of `epoch`, as used in daily counters: `YYYY-MM-DD`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def seconds_to_next_day(epoch: float) -> float:
    """Seconds from `epoch` to the next UTC midnight, when daily counters start again."""
    return DAY_SECONDS - epoch % DAY_SECONDS


def stage_open(pipe: Pipeline, tenant: str, job_id: str, now: float) -> None:
    """Inside the job's create transaction: count it as in flight for its key."""
    pipe.zadd(keys.tenant_jobs_key(tenant), {job_id: now})


def stage_end(pipe: Pipeline, tenant: str, job_id: str, audio_seconds: float | None, now: float) -> None:
    """Inside the transaction that ends a job: no longer in flight; its decoded duration (if the worker
    got that far, whatever the outcome) charged to its key for today."""
    pipe.zrem(keys.tenant_jobs_key(tenant), job_id)
    if audio_seconds:
        key = keys.tenant_audio_key(tenant, utc_day(now))
        pipe.incrbyfloat(key, audio_seconds)
        # Read only on its own day; kept a day longer so an operator can look back at yesterday.
        pipe.expire(key, 2 * DAY_SECONDS)


def stage_erase(pipe: Pipeline, tenant: str, job_id: str) -> None:
    """Inside the erase transaction: an erased job is no longer in flight (nothing is charged)."""
    pipe.zrem(keys.tenant_jobs_key(tenant), job_id)


class QuotaEntries(Participant):
    """The job store's participant for the per-key quota state."""

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        stage_open(pipe, created.record.tenant, created.job_id, created.now)

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        stage_end(pipe, ended.tenant, ended.job_id, ended.audio_seconds, ended.now)

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        if erased.tenant is not None:
            stage_erase(pipe, erased.tenant, erased.job_id)


@dataclass(frozen=True)
class Usage:
    """What admitting a submission looks at, read in one round trip."""

    open_jobs: int
    """Open jobs of every key: the queue's depth."""
    jobs_in_flight: int
    """The key's open jobs."""
    audio_seconds_today: float
    """Seconds of audio charged to the key today (UTC)."""
    used_memory: int
    """Redis's `used_memory` (0 when not asked for, or refused)."""
    memory_ceiling: int
    """Redis's `maxmemory`, or the host's memory without one (0 when unknown)."""


class QuotaStore:
    """Reads of the per-key quota state, and the reservation that admits one job."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def jobs_in_flight(self, tenant: str) -> int:
        return int(self.redis.zcard(keys.tenant_jobs_key(tenant)))

    def reserve(self, tenant: str, job_id: str, limit: int) -> int | None:
        """Count `job_id` as in flight for `tenant` if fewer than `limit` are; else how many are."""
        open_jobs = as_int(_RESERVE(self.redis, [keys.tenant_jobs_key(tenant)], job_id, time.time(), limit))
        return None if open_jobs < 0 else open_jobs

    def release(self, tenant: str, job_id: str) -> None:
        """Undo a reservation whose job was never stored."""
        self.redis.zrem(keys.tenant_jobs_key(tenant), job_id)

    def prune(self, tenant: str, older_than: float) -> int:
        """Drop entries, counted before `older_than` (epoch), whose job has ended or no longer exists:
        jobs that expired while open, or a reservation whose submitting process died before storing
        the job. Younger entries may be reservations whose job is being stored right now."""
        key = keys.tenant_jobs_key(tenant)
        ids = as_texts(self.redis.zrangebyscore(key, "-inf", older_than))
        if not ids:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hget(keys.job_key(job_id), "status")
        statuses = pipe.execute()
        stale = [job_id for job_id, status in zip(ids, statuses, strict=True)
                 if status is None or JobStatus(status.decode()).is_final]
        return int(self.redis.zrem(key, *stale)) if stale else 0

    def index_open_jobs(self, batch: int = 500) -> int:
        """Add every open job to its key's set once, for jobs stored before the sets existed (an upgrade
        in place), so they count against their key's in-flight limit; later calls do nothing. Returns
        how many were added.

        Safe beside live traffic: ZADD NX leaves entries the job store wrote alone, and a job that ends
        between the read and the add leaves an entry scored 0 that `prune` drops as soon as the key is
        at its limit. The flag is set only after a complete pass, so a pass cut short runs again.
        """
        if self.redis.exists(keys.TENANT_JOBS_INDEXED):
            return 0
        added = 0
        job_keys: list[bytes] = []
        for key in self.redis.scan_iter(match=keys.job_key("*"), count=batch):
            job_keys.append(as_bytes(key) or b"")
            if len(job_keys) >= batch:
                added += self._index(job_keys)
                job_keys = []
        added += self._index(job_keys)
        self.redis.set(keys.TENANT_JOBS_INDEXED, "1")
        return added

    def _index(self, job_keys: list[bytes]) -> int:
        if not job_keys:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for key in job_keys:
            pipe.hmget(key, "status", keys.TENANT_FIELD)
        found = pipe.execute()
        for key, (status, tenant) in zip(job_keys, found, strict=True):
            if status is not None and not JobStatus(status.decode()).is_final:
                pipe.zadd(keys.tenant_jobs_key((tenant or b"").decode()), {key.decode().rsplit(":", 1)[1]: 0}, nx=True)
        return sum(int(n) for n in pipe.execute())

    def usage(self, tenant: str, now: float, memory: bool) -> Usage:
        """The queue's depth, `tenant`'s open jobs and audio today and, if asked, Redis's memory."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(keys.OPEN_JOBS)
        pipe.zcard(keys.tenant_jobs_key(tenant))
        pipe.get(keys.tenant_audio_key(tenant, utc_day(now)))
        if memory:
            pipe.info("memory")
        open_jobs, in_flight, audio, *info = pipe.execute(raise_on_error=False)
        for reply in (open_jobs, in_flight, audio):
            if isinstance(reply, Exception):
                raise reply
        # A hosted Redis may refuse INFO: then there is no memory to judge.
        memory_info = info[0] if info and isinstance(info[0], dict) else {}
        return Usage(
            open_jobs=int(open_jobs), jobs_in_flight=int(in_flight),
            audio_seconds_today=float(audio) if audio is not None else 0.0,
            used_memory=int(memory_info.get("used_memory", 0)),
            memory_ceiling=int(memory_info.get("maxmemory", 0)) or int(memory_info.get("total_system_memory", 0)),
        )
