"""What is kept of a job's callback (its config, its attempts, the note events queued for it) and the
pure steps that change it; `core.webhook_store` keeps them in Redis and schedules them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.note_types import DEFAULT_NOTE_TYPE

DEFAULT_CALLBACK_FORMAT = "thin"
"""A callback's format when the client names none (the formats themselves: `webhooks.formats`)."""
DeliveryStatus = Literal["pending", "retrying", "delivered", "failed"]


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int
    event: str | None = None
    """The event the attempt carried (`job.completed`, `document.signed`, ...)."""
    code: str | None = None
    """A stable code for how an MLLP attempt ended (`webhooks.mllp.MllpCode`); None over HTTP."""


NoteAction = Literal["corrected", "signed", "amended"]


class NoteEvent(BaseModel):
    """A change of the job's note that the callback target is told of (`document.{action}`)."""

    action: NoteAction
    version: int
    """The version the change made (or signed)."""

    @property
    def event(self) -> str:
        return f"document.{self.action}"


class WebhookConfig(BaseModel):
    """What the client asked for at submit; the auth header value is never shown back."""

    url: str
    format: str = DEFAULT_CALLBACK_FORMAT
    """A name in `webhooks.formats.CALLBACK_FORMATS`, checked at submit."""
    auth_header_name: str | None = None
    auth_header_value: str | None = None
    note_type: str = DEFAULT_NOTE_TYPE
    patient_reference: str | None = None
    encounter_reference: str | None = None
    status_url: str = ""
    result_url: str = ""


class WebhookRecord(BaseModel):
    config: WebhookConfig
    msg_id: str
    event: str | None = None
    status: DeliveryStatus = "pending"
    attempts: list[Attempt] = Field(default_factory=list)
    """The first and the last attempts (see `record_attempt`), oldest first."""
    attempts_dropped: int = 0
    """Attempts made between the kept first and last ones, counted but no longer stored."""
    next_attempt_at: datetime | None = None
    series_started_at: float | None = None
    series_attempts: int = 0
    note: NoteEvent | None = None
    """The note change the current series reports; None while it reports the job's end (`event`)."""
    queued: list[NoteEvent] = Field(default_factory=list)
    """Note changes waiting for the current series to end, oldest first: one job's events reach the
    target one at a time and in order (an MLLP engine applies T08 after the T02 it edits)."""
    undelivered: list[str] = Field(default_factory=list)
    """Events given up on while later ones were queued (`document.signed v2`): the status is the
    latest event's, so these are kept apart, never hidden."""

    @property
    def attempts_total(self) -> int:
        """Every attempt ever made, kept or dropped."""
        return len(self.attempts) + self.attempts_dropped

    @property
    def message_id(self) -> str:
        """The webhook-id of the current series' event: the job's `msg_id` for its end, one of its own
        for each note change (the same across retries and redeliveries of that event)."""
        if self.note is None:
            return self.msg_id
        return f"{self.msg_id}_{self.note.action}_v{self.note.version}"


def event_for(status: str) -> str:
    """The Standard Webhooks event type for a job that ended with `status`: `job.completed`, ..."""
    return f"job.{status}"


def event_label(record: WebhookRecord) -> str:
    """The current series' event as people read it: `job.completed`, `document.signed v2`."""
    event = record.event or "job"
    return f"{event} v{record.note.version}" if record.note is not None else event


def record_attempt(record: WebhookRecord, attempt: Attempt, kept: int) -> None:
    """Add `attempt` to the history, keeping the first `kept` attempts (how delivery began) and the last
    `kept` (how it is going); those between are only counted, so redeliveries can't grow it without end."""
    record.attempts.append(attempt)
    excess = len(record.attempts) - 2 * kept
    if excess > 0:
        del record.attempts[kept:kept + excess]
        record.attempts_dropped += excess


def moment(epoch: float) -> datetime:
    """A stored time (UTC) from a Unix time."""
    return datetime.fromtimestamp(epoch, UTC)


def start_series(record: WebhookRecord, now: float) -> float:
    record.status = "pending"
    record.series_started_at = now
    record.series_attempts = 0
    record.next_attempt_at = moment(now)
    return now


def new_record(job_id: str, config: WebhookConfig) -> WebhookRecord:
    """A job's callback as registered at submit: not yet scheduled."""
    return WebhookRecord(config=config, msg_id=f"msg_{job_id.replace('-', '')}")


def start_note(record: WebhookRecord, note: NoteEvent, now: float) -> float:
    record.note = note
    record.event = note.event
    return start_series(record, now)
