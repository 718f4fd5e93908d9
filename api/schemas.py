"""The HTTP schemas: what the API shows of the stored shapes in `core/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from core.jobs import JobError, JobOptions, JobRecord, JobStage, JobStatus


class JobCreated(BaseModel):
    """The 202 answer to a submission."""

    id: str
    status: JobStatus
    status_url: str
    result_url: str


class WebhookAttemptPublic(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookPublic(BaseModel):
    """A job's callback as its tenant sees it: no auth header, no query string."""

    url: str
    format: str
    status: str
    attempts: list[WebhookAttemptPublic]
    """The first and the last attempts; those between are only counted (`attempts_dropped`)."""
    attempts_total: int = 0
    attempts_dropped: int = 0
    next_attempt_at: datetime | None


class JobPublic(BaseModel):
    """What `GET /v1/jobs/{id}` shows."""

    id: str
    status: JobStatus
    stage: JobStage
    progress: float
    options: JobOptions
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    audio_seconds: float | None
    processing_seconds: float | None
    realtime_factor: float | None
    model: str | None
    device: str | None
    compute_type: str | None
    batch_size: int | None
    worker: str | None
    attempts: int
    error: JobError | None
    result_url: str
    webhook: WebhookPublic | None = None

    @classmethod
    def from_record(cls, record: JobRecord, result_url: str, **extra: Any) -> JobPublic:
        rtf = None
        if record.audio_seconds and record.processing_seconds:
            rtf = round(record.audio_seconds / record.processing_seconds, 2)
        fields = record.model_dump(exclude={"owner", "upload_bytes", "audio_format", "cancel_requested"})
        return cls(**fields, realtime_factor=rtf, result_url=result_url, **extra)


class JobPage(BaseModel):
    """A page of the caller's jobs, newest first (`webhook` is left out: read one job for it)."""

    jobs: list[JobPublic]
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null when there is none."""


class SessionPublic(BaseModel):
    """A session, with fresh URLs: `stream_url` and `events_url` carry a token valid until `token_expires_at`."""

    id: str
    status: str
    job_id: str
    stream_url: str
    events_url: str
    result_url: str
    """The result of the job the session becomes when it ends."""
    token_expires_at: datetime
    audio_seconds: float
