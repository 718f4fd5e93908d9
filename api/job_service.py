"""What the job routes do, as plain functions over the store and the queue."""

from __future__ import annotations

import logging
import uuid

from celery import Celery

from api.quotas import Quotas
from api.schemas import WebhookAttemptPublic, WebhookPublic
from api.uploads import StoredUpload
from api.urls import job_urls
from core import keys
from core.audio_store import AudioStore
from core.errors import Conflict, ErrorCode, NotFound, Unavailable
from core.job_history import JobHistory, Page
from core.job_store import JobStore, utcnow
from core.jobs import JobOptions, JobRecord, JobStatus, Transcript
from core.webhook_records import WebhookConfig, event_for, event_label
from core.webhook_store import WebhookStore
from webhooks.targets import redact

log = logging.getLogger("endoscribe.api")


def new_job_id() -> str:
    return str(uuid.uuid4())


def submit_job(
    store: JobStore,
    audio: AudioStore,
    celery: Celery,
    quotas: Quotas,
    tenant: str,
    upload: StoredUpload,
    job_id: str,
    options: JobOptions,
    base_url: str,
    callback: WebhookConfig | None = None,
) -> JobRecord:
    """Take one of the key's in-flight places, store the job (its audio is already in `audio` under
    `job_id`) with its callback, then enqueue it by task name with only its id.

    If this process dies between the two, recovery finds the job queued without a message and sends it.
    """
    record = JobRecord(
        id=job_id, tenant=tenant, options=options, upload_bytes=upload.size,
        audio_format=upload.audio_format, created_at=utcnow(),
    )
    if callback is not None:
        status_url, result_url = job_urls(base_url, record.id)
        callback = callback.model_copy(update={"status_url": status_url, "result_url": result_url})
    try:
        quotas.reserve(tenant, record.id)
    except BaseException:
        _delete_quietly(audio, job_id)  # no job owns it (in Redis, its pending TTL would remove it too)
        raise
    try:
        store.create(record, callback)
    except BaseException:
        quotas.release(tenant, record.id)
        _delete_quietly(audio, job_id)
        raise
    try:
        # The task id is the job id, so operators can find a job in Flower by the id clients report.
        celery.send_task(keys.TRANSCRIBE_TASK, args=[record.id], queue=keys.TRANSCRIBE_QUEUE, task_id=record.id)
    except Exception as exc:
        # Told at once rather than left to recovery's resend: the client can retry now.
        store.erase(record.id)
        raise Unavailable("the job queue is unreachable; nothing was stored, submit again in a moment") from exc
    return record


def _delete_quietly(audio: AudioStore, job_id: str) -> None:
    try:
        audio.delete(job_id)
    except Exception:  # noqa: BLE001 - the request's own error is the one to report
        log.warning("job %s: could not delete the audio of a job that was not stored", job_id)


def get_job(store: JobStore, job_id: str, tenant: str) -> JobRecord:
    """A job the caller owns; someone else's job is as absent as a missing one."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no job with id {job_id}") from None
    record = store.get(job_id)
    if record.tenant != tenant:
        raise NotFound(f"no job with id {job_id}")
    return record


def list_jobs(
    store: JobStore, tenant: str, limit: int, cursor: str | None, statuses: frozenset[JobStatus] | None
) -> Page:
    """The caller's own jobs, newest first, a page at a time."""
    return JobHistory(store.redis, store.retention_seconds).page(tenant, limit, cursor, statuses)


def webhook_view(webhooks: WebhookStore, job_id: str) -> WebhookPublic | None:
    """A job's callback as its tenant sees it: no auth header, no query string in the URL."""
    record = webhooks.get(job_id)
    if record is None:
        return None
    return WebhookPublic(
        url=redact(record.config.url), format=record.config.format, status=record.status,
        attempts=[WebhookAttemptPublic.model_validate(a.model_dump()) for a in record.attempts],
        attempts_total=record.attempts_total, attempts_dropped=record.attempts_dropped,
        next_attempt_at=record.next_attempt_at, event=event_label(record) if record.event else None,
        events_queued=len(record.queued), undelivered=record.undelivered,
    )


def get_result(store: JobStore, job_id: str, tenant: str) -> Transcript:
    record = get_job(store, job_id, tenant)
    if record.status == JobStatus.FAILED and record.error is not None:
        raise Conflict(f"the job failed ({record.error.code}): {record.error.message}", code=ErrorCode.JOB_FAILED)
    if record.status == JobStatus.CANCELLED:
        raise Conflict("the job was cancelled, so it has no transcript; submit the audio again",
                       code=ErrorCode.JOB_CANCELLED)
    if record.status != JobStatus.COMPLETED:
        raise Conflict(f"the job is {record.status.value}; poll its status until it is completed",
                       code=ErrorCode.of(f"job_{record.status.value}"))
    transcript = store.get_result(job_id)
    if transcript is None:
        raise NotFound(f"the transcript of job {job_id} has expired or was erased", code=ErrorCode.RESULT_GONE)
    return transcript


def cancel_or_erase(store: JobStore, audio: AudioStore, job_id: str, tenant: str) -> JobRecord | None:
    """Cancel a queued or running job (returns it), or erase a finished one (returns None)."""
    record = get_job(store, job_id, tenant)
    if record.status.is_final:
        store.erase(job_id)
        return None
    store.cancel(job_id)
    return store.get(job_id)


def redeliver_webhook(
    store: JobStore, webhooks: WebhookStore, quotas: Quotas, job_id: str, tenant: str
) -> None:
    """Send an ended job's callback again: a new attempt series with the same webhook-id, at most as
    often as the redelivery rate allows (counted only once the job is known to be the caller's)."""
    record = get_job(store, job_id, tenant)
    if webhooks.get(job_id) is None:
        raise NotFound(f"job {job_id} has no callback_url", code=ErrorCode.NO_WEBHOOK)
    conflict = Conflict(f"the job is {record.status.value}; its callback is sent when it ends",
                        code=ErrorCode.of(f"job_{record.status.value}"))
    if not record.status.is_final:
        raise conflict
    quotas.count_redelivery(job_id)
    if webhooks.redeliver(job_id, event_for(record.status.value)) is None:
        raise conflict
