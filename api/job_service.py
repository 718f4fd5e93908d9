"""What the job routes do, as plain functions over the store and the queue."""

from __future__ import annotations

import uuid

from celery import Celery

from core import keys
from core.audio_format import detect_audio_format
from core.errors import Conflict, NotFound
from core.job_store import JobStore, utcnow
from core.jobs import JobOptions, JobRecord, JobStatus, Transcript


def submit_job(store: JobStore, celery: Celery, owner: str, audio: bytes, options: JobOptions) -> JobRecord:
    """Store the audio and the job, then enqueue the job by task name with only its id."""
    audio_format = detect_audio_format(audio[:64])
    record = JobRecord(
        id=str(uuid.uuid4()), owner=owner, options=options, upload_bytes=len(audio),
        audio_format=audio_format, created_at=utcnow(),
    )
    store.create(record, audio)
    celery.send_task(keys.TRANSCRIBE_TASK, args=[record.id], queue=keys.TRANSCRIBE_QUEUE)
    return record


def get_job(store: JobStore, job_id: str, owner: str) -> JobRecord:
    """A job the caller owns; someone else's job is as absent as a missing one."""
    try:
        uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no job with id {job_id}") from None
    record = store.get(job_id)
    if record.owner != owner:
        raise NotFound(f"no job with id {job_id}")
    return record


def get_result(store: JobStore, job_id: str, owner: str) -> Transcript:
    record = get_job(store, job_id, owner)
    if record.status == JobStatus.FAILED and record.error is not None:
        raise Conflict(f"the job failed ({record.error.code}): {record.error.message}", code="job_failed")
    if record.status != JobStatus.COMPLETED:
        raise Conflict(f"the job is {record.status.value}; poll its status until it is completed",
                       code=f"job_{record.status.value}")
    transcript = store.get_result(job_id)
    if transcript is None:
        raise NotFound(f"the transcript of job {job_id} has expired or was erased", code="result_gone")
    return transcript


def cancel_or_erase(store: JobStore, job_id: str, owner: str) -> JobRecord | None:
    """Cancel a queued or running job (returns it), or erase a finished one (returns None)."""
    record = get_job(store, job_id, owner)
    if record.status.is_final:
        store.erase(job_id)
        return None
    store.mark_cancelled_if_queued(job_id)
    return store.get(job_id)
