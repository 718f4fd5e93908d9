"""Webhook state in Redis: each job's callback config and attempts, and the due-time schedule.

The schedule is a sorted set scored by due time rather than Celery countdowns, which on Redis
collide with the visibility timeout over a 24-hour retry window. A claimed delivery is leased by
pushing its score forward, so a deliverer killed mid-attempt leaves it due again once the lease
runs out: at-least-once, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Created, Ended, Erased, Participant
from core.redis_calls import Lua, as_bytes, as_texts, transact
from core.webhook_records import (
    Attempt,
    DeliveryStatus,
    NoteEvent,
    WebhookRecord,
    event_for,
    event_label,
    moment,
    new_record,
    record_attempt,
    start_note,
    start_series,
)

# Atomically take due ids and push each one's score out by the lease.
_CLAIM = Lua("""
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return due
""")
# Push each given id that is still due out to ARGV[2]; return those pushed (another deliverer may have
# claimed or a redelivery rescheduled the rest since they were read).
_CLAIM_IDS = Lua("""
local taken = {}
for i = 3, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
    taken[#taken + 1] = ARGV[i]
  end
end
return taken
""")


KEEP = object()
"""Returned by a `_mutate` change: leave the record's place in the schedule as it is."""


class Unchanged(Exception):
    """Raised by a `_mutate` change: write nothing."""


def stage_note_event(pipe: Pipeline, job_id: str, raw: bytes | None, note: NoteEvent, now: float) -> bool:
    """Inside a note change's transaction (after MULTI): tell the job's callback target of `note`, now
    if nothing is being sent to it, else after the events before it (see `WebhookStore.finish_attempt`).

    `raw` is the webhook record read under the same WATCH; nothing is staged when the job has none.
    """
    if raw is None:
        return False
    record = WebhookRecord.model_validate_json(raw)
    idle = record.event is not None and record.status in {"delivered", "failed"} and not record.queued
    if idle:
        pipe.zadd(keys.WEBHOOK_DUE, {job_id: start_note(record, note, now)})
    else:
        record.queued.append(note)
    pipe.set(keys.webhook_key(job_id), record.model_dump_json(), xx=True, keepttl=True)
    return True


def stage_schedule(pipe: Pipeline, job_id: str, raw: bytes | None, event: str, now: float) -> bool:
    """Inside a job's own transaction (after MULTI): make its callback due now for `event`.

    `raw` is the webhook record read under the same WATCH. Nothing is staged if the job has no
    callback or it was scheduled already (a redelivery starts series through `WebhookStore.redeliver`).
    """
    if raw is None:
        return False
    record = WebhookRecord.model_validate_json(raw)
    if record.event is not None:
        return False
    record.event = event
    due = start_series(record, now)
    pipe.set(keys.webhook_key(job_id), record.model_dump_json(), xx=True, keepttl=True)
    pipe.zadd(keys.WEBHOOK_DUE, {job_id: due})
    return True


class CallbackSchedule(Participant):
    """The job store's participant for a job's callback: registered with the job, made due when it ends,
    removed with it."""

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        if created.callback is not None:
            pipe.set(keys.webhook_key(created.job_id), new_record(created.job_id, created.callback).model_dump_json(),
                     ex=created.ttl)

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        stage_schedule(pipe, ended.job_id, ended.callback, event_for(ended.status.value), ended.now)

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        pipe.delete(keys.webhook_key(erased.job_id))
        pipe.zrem(keys.WEBHOOK_DUE, erased.job_id)


class WebhookStore:
    """Delivery-side state of callbacks: claims, attempts, redelivery. A job's own transitions
    (create, end, cancel, erase) change its callback inside `JobStore`'s transactions instead, through
    its participant `CallbackSchedule`."""

    def __init__(self, client: redis.Redis, retention_seconds: int, attempts_kept: int = 10) -> None:
        self.redis = client
        self.retention_seconds = retention_seconds
        self.attempts_kept = attempts_kept

    def get(self, job_id: str) -> WebhookRecord | None:
        raw = self.redis.get(keys.webhook_key(job_id))
        return WebhookRecord.model_validate_json(raw) if (raw := as_bytes(raw)) is not None else None

    def _mutate(
        self, job_id: str, change: Callable[[WebhookRecord], float | object | None]
    ) -> WebhookRecord | None:
        """Read-modify-write one record atomically (WATCH), moving it in the schedule in the same step.

        `change` edits the record and returns the epoch it comes due, None to take it off the
        schedule, or KEEP to leave the schedule alone; raising Unchanged writes nothing. An erased
        record is never recreated (SET XX), and it keeps its expiry.
        """
        key = keys.webhook_key(job_id)

        def body(pipe: Pipeline) -> WebhookRecord | None:
            raw = as_bytes(pipe.get(key))
            if raw is None:
                return None
            record = WebhookRecord.model_validate_json(raw)
            try:
                due = change(record)
            except Unchanged:
                return None
            pipe.multi()
            pipe.set(key, record.model_dump_json(), xx=True, keepttl=True)
            if due is None:
                pipe.zrem(keys.WEBHOOK_DUE, job_id)
            elif isinstance(due, float | int):
                pipe.zadd(keys.WEBHOOK_DUE, {job_id: due})
            return record

        return transact(self.redis, body, key)

    def redeliver(self, job_id: str, event: str, now: float | None = None) -> WebhookRecord | None:
        """A new attempt series for an ended job's callback (same webhook-id); None if it has none.

        `event` (from the job's final status) is used only if the callback was never scheduled.
        """
        at = now or time.time()

        def change(record: WebhookRecord) -> float:
            record.event = record.event or event
            return start_series(record, at)

        return self._mutate(job_id, change)

    def claim_due(self, now: float, lease_seconds: float, limit: int) -> list[str]:
        return as_texts(_CLAIM(self.redis, [keys.WEBHOOK_DUE], now, now + lease_seconds, limit))

    def due(self, now: float, limit: int) -> list[str]:
        """Up to `limit` callbacks due at `now`, longest due first (read only: `claim` takes them)."""
        return as_texts(self.redis.zrangebyscore(keys.WEBHOOK_DUE, "-inf", now, start=0, num=limit))

    def claim(self, job_ids: list[str], now: float, until: float) -> list[str]:
        """Of `job_ids`, those still due at `now`, each moved to come due again at `until` (a lease while
        it is sent, or a deferral), in one step; returns them."""
        if not job_ids:
            return []
        return as_texts(_CLAIM_IDS(self.redis, [keys.WEBHOOK_DUE], now, until, *job_ids))

    def finish_attempt(
        self,
        job_id: str,
        series: float | None,
        attempt: Attempt,
        next_at: float | None,
        final: DeliveryStatus | None,
    ) -> None:
        """Record an attempt of `series`; then either schedule the next at `next_at` or end with `final`,
        which starts the next queued note event's series at once, if there is one.

        If a redelivery started a new series while this attempt was in flight, the attempt only
        joins the history: the new series' status and schedule stand.
        """

        def change(record: WebhookRecord) -> float | object | None:
            record_attempt(record, attempt, self.attempts_kept)
            if record.series_started_at != series:
                return KEEP
            record.series_attempts += 1
            if final is not None and record.queued:
                # This event is settled (delivered, or given up on and recorded): the next one goes now.
                if final == "failed":
                    record.undelivered.append(event_label(record))
                return start_note(record, record.queued.pop(0), time.time())
            if final is not None:
                record.status = final
                record.next_attempt_at = None
                return None
            assert next_at is not None
            record.status = "retrying"
            record.next_attempt_at = moment(next_at)
            return next_at

        if self._mutate(job_id, change) is None:
            self.unschedule(job_id)

    def unschedule(self, job_id: str) -> None:
        self.redis.zrem(keys.WEBHOOK_DUE, job_id)

