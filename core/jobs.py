"""The job model: status, options, the stored record and its transcript (the HTTP schemas: `api.schemas`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

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


class ClientCommand(BaseModel):
    """A command a live session's client sent (a button or a key on `/dictate`), where in the audio it came."""

    name: str
    """The command (`scratch_that`, `insert_template`, ...), as the grammar names it."""
    template: str | None = None
    """The template `insert_template` inserts (its name)."""
    at: float
    """The session's audio stored when it came (seconds): it applies after what was said before."""


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
    client_commands: list[ClientCommand] | None = None
    """A live session's job: the commands its client sent (buttons, keys), applied where they came."""


class JobError(BaseModel):
    code: str
    message: str


class JobRecord(BaseModel):
    """A job as stored in Redis (one hash field per attribute, so writers never clobber each other)."""

    id: str
    tenant: str = ""
    """The API key's identity the job belongs to (stored as `keys.TENANT_FIELD`, by the codec)."""
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


class AppliedCommand(BaseModel):
    """A dictation command found in what was said (`dictation.grammar`), and what it did."""

    name: str
    """The command (`scratch_that`, `insert_template`, ...): the list is docs/guides/commands.md."""
    said: str
    """The words that were taken for it."""
    start: float
    """Where it was said in the audio (seconds; a segment's edges when the model gave no word times)."""
    end: float
    applied: bool = True
    """False: it could not apply (`reason` says why); it wrote nothing, and its words are not text."""
    applied_to: dict[str, Any] | None = None
    """What it acted on: the text it removed or selected, the template it inserted, the fields it left."""
    reason: str | None = None
    source: str = "speech"
    """`speech`: said and recognised; `client`: sent by a live session's client (a button or a key)."""


class UnfilledField(BaseModel):
    """A field of an inserted template that nothing filled: it keeps its default, for the review to see."""

    template: str
    field: int
    """Its place in the template's body (0: the first field)."""
    label: str
    """The field as the body writes it (`adequate|inadequate`)."""
    default: str
    """What the text has in its place ("" writes `[ ]`)."""


class Transcript(BaseModel):
    """The one stored result of a job; every output format is rendered from it."""

    text: str
    raw_text: str | None = None
    """The model's text before correction and dictation formatting (absent when neither changed it)."""
    language: str
    duration: float
    segments: list[Segment]
    commands: list[AppliedCommand] | None = None
    """The dictation commands applied to `text`, in the order said (with dictation formatting on, when any
    was said); `segments` stay what was said."""
    unfilled_fields: list[UnfilledField] | None = None
    """Fields of inserted templates still at their defaults (present when a template was inserted)."""
    review: list[ReviewFlag] | None = None
    """What a clinician must check before signing, and why (`core.review`): absent where nothing was
    reviewed (a job from before flags were kept), empty where nothing needs a second look."""
    findings: FindingsResult | None = None
    """The structured findings read from the formatted text (`format=findings`), for a note type with a
    findings model; absent otherwise, or when the extraction failed. Not part of the `json` format."""
