"""The job model: status, options, the stored record and the public schemas."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.vocabulary import VocabularyPhrase


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobStage(StrEnum):
    QUEUED = "queued"
    DECODING = "decoding"
    TRANSCRIBING = "transcribing"
    ALIGNING = "aligning"
    DONE = "done"


class JobOptions(BaseModel):
    """What the client asked for, besides the audio."""

    language: str | None = Field(default=None, max_length=16)
    initial_prompt: str | None = Field(default=None, max_length=2000)
    hotwords: str | None = Field(default=None, max_length=2000)
    priority: Literal["normal", "high"] = "normal"
    """`high`: the worker's priority lane (live or short clips): scheduled ahead of normal work, and
    waiting for at most one batch of it."""
    note_type: str | None = None
    """Which built-in vocabulary decodes the job (and formats it as dictation); None: general endoscopy."""
    formatting: Literal["none", "dictation"] | None = None
    """`dictation`: spoken punctuation and numbers with units written out; None: dictation for a note_type."""
    vocabulary: list[VocabularyPhrase] | None = None
    """The job's own phrases, merged with the built-in list."""


class JobError(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message"}}`."""

    error: JobError


ERROR_DESCRIPTIONS = {
    400: "empty file or invalid input",
    401: "missing or invalid API key",
    404: "no such job or vocabulary (or not yours)",
    409: "the job is not in a state that allows this (not finished, failed, cancelled)",
    411: "chunked upload without Content-Length",
    413: "upload over the size limit",
    415: "not a recognised audio format",
    422: "a missing or invalid field, a refused callback_url, or an unusable note_type, vocabulary or vocabulary_id",
    429: "over a per-key quota (request rate, jobs in flight, audio hours per day) or the redelivery rate; "
         "see Retry-After",
    503: "the service is over capacity (queue depth, storage memory) or its store is unreachable; see Retry-After",
}


class JobRecord(BaseModel):
    """A job as stored in Redis (one hash field per attribute, so writers never clobber each other)."""

    id: str
    owner: str = ""
    status: JobStatus = JobStatus.QUEUED
    stage: JobStage = JobStage.QUEUED
    progress: float = 0.0
    options: JobOptions = Field(default_factory=JobOptions)
    upload_bytes: int = 0
    audio_format: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    audio_seconds: float | None = None
    processing_seconds: float | None = None
    model: str | None = None
    device: str | None = None
    compute_type: str | None = None
    batch_size: int | None = None
    worker: str | None = None
    error: JobError | None = None
    cancel_requested: bool = False
    attempts: int = 0
    """Runs started so far; a run that ends without an outcome (its worker died) is retried up to a limit."""


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
    """A job's callback as its owner sees it: no auth header, no query string."""

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


class Word(BaseModel):
    word: str
    start: float | None = None
    end: float | None = None
    score: float | None = None


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] | None = None


class Transcript(BaseModel):
    """The one stored result of a job; every output format is rendered from it."""

    text: str
    raw_text: str | None = None
    """The model's text before correction and dictation formatting (absent when neither changed it)."""
    language: str
    duration: float
    segments: list[Segment]
