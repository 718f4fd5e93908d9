"""The job model: status, options, the stored record and its transcript (the HTTP schemas: `api.schemas`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from core.review_flags import ReviewFlag
from core.vocabulary import VocabularyPhrase
from findings.models import FindingsResult


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


Priority = Literal["normal", "high"]
Formatting = Literal["none", "dictation"]


class JobOptions(BaseModel):
    """What the client asked for, besides the audio, as stored (its limits are checked at submission,
    `api.submissions`, so a record stored under other limits still reads)."""

    language: str | None = None
    initial_prompt: str | None = None
    hotwords: str | None = None
    priority: Priority = "normal"
    """`high`: the worker's priority lane (live or short clips): scheduled ahead of normal work, and
    waiting for at most one batch of it."""
    note_type: str | None = None
    """Which built-in vocabulary decodes the job (and formats it as dictation); None: general endoscopy."""
    formatting: Formatting | None = None
    """`dictation`: spoken punctuation and numbers with units written out; None: dictation for a note_type."""
    vocabulary: list[VocabularyPhrase] | None = None
    """The job's own phrases, merged with the built-in list."""
    keep_audio_seconds: int = 0
    """Verification mode: how long the audio is kept after the job ends, for a reviewer to listen to
    (`GET /v1/jobs/{id}/audio`); 0 deletes it at the end."""


class JobError(BaseModel):
    code: str
    message: str


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


class Word(BaseModel):
    word: str
    start: float | None = None
    end: float | None = None
    score: float | None = None
    """The wav2vec2 alignment's confidence in the timing (only where that alignment ran)."""
    probability: float | None = None
    """The model's probability of the word as spoken here (its tokens' mean): low means doubtful."""


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    avg_logprob: float | None = None
    """The decoded tokens' mean log-probability (Whisper's; below -1 the decode is doubtful)."""
    no_speech_prob: float | None = None
    """The model's probability that this stretch holds no speech (high, with text: likely invented)."""


class Transcript(BaseModel):
    """The one stored result of a job; every output format is rendered from it."""

    text: str
    raw_text: str | None = None
    """The model's text before correction and dictation formatting (absent when neither changed it)."""
    language: str
    duration: float
    segments: list[Segment]
    review: list[ReviewFlag] | None = None
    """What a clinician must check before signing, and why (`core.review`): absent where nothing was
    reviewed (a job from before flags were kept), empty where nothing needs a second look."""
    findings: FindingsResult | None = None
    """The structured findings read from the formatted text (`format=findings`), for a note type with a
    findings model; absent otherwise, or when the extraction failed. Not part of the `json` format."""
