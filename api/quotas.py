"""Per-key quotas and global backpressure: what is refused, with which message and `Retry-After`.

Per key (the tenant of the jobs; one shared anonymous tenant without API keys): requests per moving
window, jobs in flight, and hours of audio transcribed per UTC day. For everyone: the queue's depth
and Redis's memory, past which a submission would only make things worse. Rates are counted by the
`limits` library in the same Redis; the rest is read from what the job store keeps (`core.quota_store`).
"""

from __future__ import annotations

import math
import time

import redis
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from core import keys
from core.errors import ErrorCode, Overloaded, TooManyRequests
from core.quota_store import QuotaStore, Usage, seconds_to_next_day
from core.redis_safety import check_memory_room
from core.settings import QuotaSettings

# How long an in-flight entry is trusted without a stored job behind it: a reservation is stored
# within milliseconds, so anything older whose job is gone or ended is a leftover, not a submission.
STALE_RESERVATION_SECONDS = 60.0


def _rates(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec.strip() else []


class Quotas:
    """The checks; each raises TooManyRequests (429) or Overloaded (503) with what to do and when."""

    def __init__(self, settings: QuotaSettings, client: redis.Redis) -> None:
        self.settings = settings
        self.store = QuotaStore(client)
        # The app's own connection pool: the URI only tells `limits` which client library to use.
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix=keys.LIMITS_PREFIX)
        self.limiter = MovingWindowRateLimiter(storage)
        self.request_rates = _rates(settings.request_rate)
        self.redeliver_rates = _rates(settings.redeliver_rate)

    # ---- per key -------------------------------------------------------------------------------

    def count_request(self, tenant: str) -> None:
        """Count one `/v1` request of `tenant` against its rate."""
        for rate in self.request_rates:
            if not self.limiter.hit(rate, "requests", tenant or "anonymous"):
                wait = self._wait(rate, "requests", tenant or "anonymous")
                raise TooManyRequests(
                    f"too many requests from this key; the limit is {rate} per key — retry in {wait} s",
                    retry_after=wait, code=ErrorCode.REQUEST_RATE_EXCEEDED)

    def reserve(self, tenant: str, job_id: str) -> None:
        """Take one of `tenant`'s in-flight places for `job_id`, atomically; release it if the job is
        then not stored (`release`). Once stored, the job store frees it when the job ends."""
        limit = self.settings.max_jobs_in_flight
        if not limit:
            return
        count = self.store.reserve(tenant, job_id, limit)
        if count is not None and self.store.prune(tenant, self._stale_before()):
            count = self.store.reserve(tenant, job_id, limit)
        if count is not None:
            raise self._too_many_in_flight(count)

    def release(self, tenant: str, job_id: str) -> None:
        self.store.release(tenant, job_id)

    def count_redelivery(self, job_id: str) -> None:
        """Count one callback redelivery of `job_id` against its rate."""
        for rate in self.redeliver_rates:
            if not self.limiter.hit(rate, "redeliver", job_id):
                wait = self._wait(rate, "redeliver", job_id)
                raise TooManyRequests(
                    f"this job's callback was redelivered too recently; the limit is {rate} per job — retry in "
                    f"{wait} s", retry_after=wait, code=ErrorCode.REDELIVER_RATE_EXCEEDED)

    # ---- before a submission's upload is read --------------------------------------------------

    def check_submission(self, tenant: str) -> None:
        """Refuse a submission early, before its upload is read: the service over capacity (503), or
        `tenant` without a free place or over its audio today (429)."""
        now = time.time()
        mb, fraction = self.settings.max_redis_memory_mb, self.settings.max_redis_memory_fraction
        usage = self.store.usage(tenant, now, memory=bool(mb or fraction))
        self._check_queue(usage)
        self._check_memory(usage)
        limit = self.settings.max_jobs_in_flight
        if limit and (count := usage.jobs_in_flight) >= limit:
            if self.store.prune(tenant, self._stale_before()):
                count = self.store.jobs_in_flight(tenant)
            if count >= limit:
                raise self._too_many_in_flight(count)
        self._check_audio(usage.audio_seconds_today, now)

    def _check_queue(self, usage: Usage) -> None:
        depth, busy = self.settings.max_queue_depth, self.settings.busy_retry_seconds
        if depth and usage.open_jobs >= depth:
            raise Overloaded(
                f"{usage.open_jobs} jobs are queued or processing; the limit is {depth} for the whole service — "
                f"retry in {busy} s", retry_after=busy, code=ErrorCode.QUEUE_FULL)

    def _check_memory(self, usage: Usage) -> None:
        check_memory_room(usage.used_memory, usage.memory_ceiling, self.settings)

    def _check_audio(self, seconds_today: float, now: float) -> None:
        hours = self.settings.max_audio_hours_per_day
        used = seconds_today / 3600
        if hours and used >= hours:
            wait = math.ceil(seconds_to_next_day(now))
            raise TooManyRequests(
                f"this key had {used:.2f} hours of audio transcribed today; the limit is {hours:g} hours per key "
                f"per day (UTC) — retry after midnight UTC, in {wait // 3600} h {wait % 3600 // 60} min",
                retry_after=wait, code=ErrorCode.DAILY_AUDIO_EXCEEDED)

    # ---- helpers -------------------------------------------------------------------------------

    def _too_many_in_flight(self, count: int) -> TooManyRequests:
        limit, busy = self.settings.max_jobs_in_flight, self.settings.busy_retry_seconds
        return TooManyRequests(
            f"{count} jobs in flight; the limit is {limit} per key — wait for some to finish (retry in {busy} s)",
            retry_after=busy, code=ErrorCode.TOO_MANY_JOBS_IN_FLIGHT)

    def _wait(self, rate: RateLimitItem, *identifiers: str) -> int:
        reset = self.limiter.get_window_stats(rate, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    @staticmethod
    def _stale_before() -> float:
        return time.time() - STALE_RESERVATION_SECONDS
