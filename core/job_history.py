"""Every job of an API key, newest first: the per-tenant index `GET /v1/jobs` pages through.

`keys.tenant_jobs_key` holds only a key's open jobs (for its quota); this index holds all of them, scored
by creation time. The job store's participant `HistoryIndex` writes it in the job's creation transaction
and removes it in the erase transaction (`stage_add`, `stage_remove`). Job records also leave by TTL,
which no code sees, so an add and a read drop every entry older than the retention, and a read any id
whose record is gone.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from redis.client import Pipeline

from core import keys
from core.errors import ErrorCode, InvalidInput
from core.job_codec import decode, text
from core.job_participants import Created, Erased, Participant
from core.jobs import JobRecord, JobStatus
from core.redis_calls import as_hash, as_optional_bytes_list, as_scored, as_texts

# Ids examined per request at most: a filter that matches little answers a short page with a cursor
# rather than walking a key's whole history in one request.
SCAN_BUDGET = 1000
BATCH = 100


def stage_add(pipe: Pipeline, tenant: str, job_id: str, created: float, ttl: int) -> None:
    """In the job's creation transaction: index it, and drop entries past the retention (their records
    have expired), so a key that submits for months and never lists its jobs keeps a bounded index;
    the index lives as long as its newest job."""
    key = keys.tenant_history_key(tenant)
    pipe.zadd(key, {job_id: created})
    # O(log n + removed): each entry is removed once, by the next add after it expires.
    pipe.zremrangebyscore(key, "-inf", f"({time.time() - ttl}")
    pipe.expire(key, ttl)


def stage_remove(pipe: Pipeline, tenant: str, job_id: str) -> None:
    """In the job's erase transaction."""
    pipe.zrem(keys.tenant_history_key(tenant), job_id)


class HistoryIndex(Participant):
    """The job store's participant for the per-key job history."""

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        stage_add(pipe, created.record.tenant, created.job_id, created.record.created_at.timestamp(), created.ttl)

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        if erased.tenant is not None:
            stage_remove(pipe, erased.tenant, erased.job_id)


@dataclass(frozen=True)
class Page:
    jobs: list[JobRecord]
    next_cursor: str | None
    """Where the next page starts; None when nothing older is left."""


def encode_cursor(score: float, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{score!r}:{job_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, job_id = raw.split(":", 1)
        return float(score), job_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("the cursor is not one this API gave out; pass next_cursor unchanged",
                           code=ErrorCode.INVALID_CURSOR) from None


class JobHistory:
    """Pages of one key's jobs, newest first, optionally only some statuses."""

    def __init__(self, client: redis.Redis, retention_seconds: int) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds

    def page(self, tenant: str, limit: int, cursor: str | None = None,
             statuses: frozenset[JobStatus] | None = None) -> Page:
        """Up to `limit` jobs created before `cursor` (exclusive). With a status filter a page may be
        short (at most SCAN_BUDGET ids are examined); follow `next_cursor` until it is None."""
        key = keys.tenant_history_key(tenant)
        self.redis.zremrangebyscore(key, "-inf", f"({time.time() - self.retention_seconds}")
        position = decode_cursor(cursor) if cursor is not None else None
        found: list[JobRecord] = []
        examined = 0
        while len(found) < limit and examined < SCAN_BUDGET:
            batch = self._after(key, position, BATCH)
            if not batch:
                return Page(found, None)
            for (job_id, score), record in zip(batch, self._records(tenant, [i for i, _ in batch]), strict=True):
                examined += 1
                position = (score, job_id)
                if record is not None and (statuses is None or record.status in statuses):
                    found.append(record)
                    if len(found) == limit:
                        break
        assert position is not None
        return Page(found, encode_cursor(*position) if self._after(key, position, 1) else None)

    def _after(self, key: str, position: tuple[float, str] | None, count: int) -> list[tuple[str, float]]:
        """Up to `count` entries after `position` (score, id), newest first. Entries with one score come
        in descending id order, so those at the position's score with an id >= its id come before it."""
        top: float | str = "+inf"
        skip = 0
        if position is not None:
            top, after = position
            skip = sum(1 for t in as_texts(self.redis.zrangebyscore(key, top, top)) if t >= after)
        entries = as_scored(self.redis.zrevrangebyscore(key, top, "-inf", start=skip, num=count, withscores=True))
        return [(text(member), float(score)) for member, score in entries]

    def index_stored_jobs(self) -> int:
        """Add every stored job to its key's index once, for jobs stored before the index existed (an
        upgrade in place); later calls do nothing. Returns how many were added."""
        if not self.redis.set(keys.TENANT_HISTORY_INDEXED, "1", nx=True):
            return 0
        added = 0
        for key in self.redis.scan_iter(match=keys.job_key("*"), count=500):
            tenant, created = as_optional_bytes_list(self.redis.hmget(key, [keys.TENANT_FIELD, "created_at"]))
            if created is None:
                continue
            job_id = text(key).rsplit(":", 1)[1]
            score = datetime.fromisoformat(text(created)).timestamp()
            history = keys.tenant_history_key(text(tenant or b""))
            added += int(self.redis.zadd(history, {job_id: score}, nx=True) or 0)
            self.redis.expire(history, self.retention_seconds)
        return added

    def _records(self, tenant: str, job_ids: list[str]) -> list[JobRecord | None]:
        """The records, in order; an id whose record expired or is not the tenant's is None (and expired
        ones are dropped from the index)."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job_key(job_id))
        records: list[JobRecord | None] = []
        gone = []
        for job_id, raw in zip(job_ids, pipe.execute(), strict=True):
            if not raw:
                gone.append(job_id)
                records.append(None)
                continue
            record = decode(as_hash(raw))
            records.append(record if record.tenant == tenant else None)
        if gone:
            self.redis.zrem(keys.tenant_history_key(tenant), *gone)
        return records
