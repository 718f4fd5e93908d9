"""Single delivery attempts against a real Redis, with the resolver swapped so no DNS is asked."""

from __future__ import annotations

import socket
import uuid

import redis

from core import keys
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus
from core.settings import WebhookSettings
from core.webhook_records import WebhookConfig
from core.webhook_store import WebhookStore
from tests.services import TEST_WEBHOOK_SECRET, free_port
from webhooks.delivery import Deliverer, attempt_delivery


def ended_job_with_callback(client: redis.Redis) -> tuple[Deliverer, str, list[str]]:
    jobs, hooks = JobStore(client, 3600), WebhookStore(client, 3600)
    job_id = str(uuid.uuid4())
    jobs.create(JobRecord(id=job_id, created_at=utcnow()), WebhookConfig(url="https://ehr.example.org/hook"))
    assert jobs.cancel(job_id) == JobStatus.CANCELLED  # ending the job schedules its callback
    asked: list[str] = []

    def flaky_dns(host: str, port: int) -> list[str]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    settings = WebhookSettings(secret=TEST_WEBHOOK_SECRET, retry_base_seconds=60)
    return Deliverer(jobs, hooks, settings, resolver=flaky_dns), job_id, asked


def test_a_name_that_does_not_resolve_now_is_retried_later(redis_client: redis.Redis) -> None:
    deliverer, job_id, asked = ended_job_with_callback(redis_client)

    assert attempt_delivery(deliverer, job_id) == "retrying"

    assert asked == ["ehr.example.org"]
    hook = deliverer.webhooks.get(job_id)
    assert hook is not None and hook.status == "retrying" and hook.next_attempt_at is not None
    assert hook.attempts[0].error is not None and hook.attempts[0].error.startswith("dns:")
    assert redis_client.zscore(keys.WEBHOOK_DUE, job_id) is not None


def test_redeliver_sends_a_callback_that_was_never_scheduled(redis_client: redis.Redis) -> None:
    hooks = WebhookStore(redis_client, 3600)
    job_id = str(uuid.uuid4())
    JobStore(redis_client, 3600).create(JobRecord(id=job_id, created_at=utcnow()),
                                         WebhookConfig(url="https://ehr.example.org/hook"))

    record = hooks.redeliver(job_id, "job.completed", now=1000.0)

    assert record is not None and record.event == "job.completed" and record.status == "pending"
    assert redis_client.zscore(keys.WEBHOOK_DUE, job_id) == 1000.0


def test_a_redis_failure_while_building_the_body_defers_the_attempt_instead_of_failing_it(
    redis_client: redis.Redis,
) -> None:
    deliverer, job_id, asked = ended_job_with_callback(redis_client)
    # The job store's Redis is gone (a port nothing listens on); the schedule's still answers.
    deliverer.jobs = JobStore(redis.Redis(port=free_port(), socket_connect_timeout=0.2), 3600)

    assert attempt_delivery(deliverer, job_id) == "deferred"

    hook = deliverer.webhooks.get(job_id)
    assert hook is not None and hook.status == "pending" and hook.attempts == []
    assert asked == []
