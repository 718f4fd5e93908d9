"""A callback's attempt history stays bounded: its first and last attempts kept, the rest counted."""

from __future__ import annotations

import time
import uuid

import redis

from api.job_service import webhook_view
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord
from core.webhook_records import Attempt, WebhookConfig
from core.webhook_store import WebhookStore


def fail_attempts(hooks: WebhookStore, job_id: str, codes: range) -> None:
    series = hooks.get(job_id).series_started_at  # type: ignore[union-attr]
    for code in codes:
        attempt = Attempt(at=utcnow(), status_code=code, duration_ms=1)
        hooks.finish_attempt(job_id, series, attempt, next_at=time.time() + 60, final=None)


def test_a_callback_keeps_its_first_and_last_attempts_and_counts_the_rest(redis_client: redis.Redis) -> None:
    jobs, hooks = JobStore(redis_client, 3600), WebhookStore(redis_client, 3600, attempts_kept=2)
    job_id = str(uuid.uuid4())
    jobs.create(JobRecord(id=job_id, created_at=utcnow()), WebhookConfig(url="https://ehr.example.org/hook"))
    jobs.cancel(job_id)  # ending the job schedules its callback

    fail_attempts(hooks, job_id, range(500, 507))

    record = hooks.get(job_id)
    assert record is not None
    assert [a.status_code for a in record.attempts] == [500, 501, 505, 506]
    assert (record.attempts_total, record.attempts_dropped, record.series_attempts) == (7, 3, 7)

    # Redelivery after redelivery adds to the count, not to the stored history.
    for series in range(3):
        hooks.redeliver(job_id, "job.cancelled")
        fail_attempts(hooks, job_id, range(520 + 10 * series, 525 + 10 * series))

    view = webhook_view(hooks, job_id)
    assert view is not None
    assert [a.status_code for a in view.attempts] == [500, 501, 543, 544]
    assert (view.attempts_total, view.attempts_dropped) == (22, 18)
