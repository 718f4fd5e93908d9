"""The HTTP schemas: what the API shows of the stored shapes in `core/`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from core.document_store import MAX_TEXT_CHARS
from core.documents import AuditEntry, Document, DocumentStatus, DocumentVersion, Signature, VersionKind, WordChange
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
    event: str | None = None
    """What the attempt carried: `job.completed`, `document.signed v2`, ..."""
    code: str | None = None
    """How an MLLP attempt ended: `hl7_accepted`, `hl7_application_error`, `mllp_no_ack`, ..."""


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
    event: str | None = None
    """The event being sent (or last sent); `status` is its delivery's."""
    events_queued: int = 0
    """Changes of the note waiting for it, sent next in order."""
    undelivered: list[str] = Field(default_factory=list)
    """Earlier events given up on (`document.signed v2`)."""


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
        fields = record.model_dump(exclude={"tenant", "upload_bytes", "audio_format", "cancel_requested"})
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


class DocumentRevision(BaseModel):
    """A reviewer's new text for a job's note: a correction before signature, an amendment after it."""

    # Its length limit is the store's (a 400 naming it) and the body's (a 413): a schema maxLength above
    # the body limit would promise a 422 the body limit answers first.
    text: str = Field(min_length=1, description=f"the whole note as it should read (at most {MAX_TEXT_CHARS} "
                                                "characters)")
    author: str | None = Field(default=None, max_length=200,
                               description="who made the change, as you name them (e.g. `Practitioner/77`)")
    base_version: int | None = Field(default=None, ge=1,
                                     description="the version this text was made from; a newer one is a 409")
    reason: str | None = Field(default=None, max_length=500, description="why it changed (HL7 TXA-20)")


class DocumentSignature(BaseModel):
    """A signature of the note's current version."""

    author: str | None = Field(default=None, max_length=200, description="who signs (e.g. `Practitioner/77`)")
    base_version: int | None = Field(default=None, ge=1,
                                     description="the version the signer read; a newer one is a 409")


class DocumentVersionPublic(BaseModel):
    """One version of a note, never changed once stored."""

    version: int
    kind: VersionKind
    status: DocumentStatus
    text: str
    author: str | None
    at: datetime
    replaces: int | None
    """The signed version an amendment replaces."""
    reason: str | None
    diff: list[WordChange]
    """What changed from the version before, word by word."""
    signature: Signature | None

    @classmethod
    def of(cls, version: DocumentVersion) -> DocumentVersionPublic:
        return cls.model_validate({**version.model_dump(), "status": version.status})


class DocumentPublic(BaseModel):
    """A job's note: its current version, every version oldest first, and the audit trail."""

    job_id: str
    status: DocumentStatus
    current: DocumentVersionPublic
    versions: list[DocumentVersionPublic]
    audit: list[AuditEntry]

    @classmethod
    def of(cls, document: Document) -> DocumentPublic:
        versions = [DocumentVersionPublic.of(v) for v in document.versions]
        return cls(job_id=document.job_id, status=document.status, current=versions[-1], versions=versions,
                   audit=document.audit)
