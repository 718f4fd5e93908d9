"""What takes part in a job's transitions: the participant protocol the job store drives.

The job store (`core.job_store`) owns every transition of a job, one Redis transaction each. Whatever
else must change with a job (its key's quota entries, the job counters, the key's job history, the
callback schedule, the audio) is a participant registered on the store: the store calls it inside the
transaction (`on_create`, `on_end`, `on_erase`: queue writes on the MULTI pipeline) and once the
transaction has committed (`after_commit`: work outside Redis, such as deleting an object in S3), so no
caller has a second step to remember and no path (a live session ending, recovery, a cancel) can skip
one. Modelled on dramatiq's middleware hooks and arq's `finish_job`.

A participant overrides only the hooks it needs; the others do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from redis.client import Pipeline

from core.jobs import JobRecord, JobStatus
from findings.quality import QualityRecord

if TYPE_CHECKING:
    from core.webhook_records import WebhookConfig


class Transition(StrEnum):
    """A committed change of a job that a participant may act on after the commit."""

    CREATED = "created"
    ENDED = "ended"
    ERASED = "erased"


@dataclass(frozen=True)
class Created:
    """A job being stored (its audio is already in the audio store, under its id)."""

    record: JobRecord
    callback: WebhookConfig | None
    now: float
    """Epoch seconds of the transaction."""
    ttl: int
    """The job's retention: everything stored with it expires after this many seconds."""

    @property
    def job_id(self) -> str:
        return self.record.id


@dataclass(frozen=True)
class Ended:
    """A job ending, whoever ends it (its run, recovery, a claim, a cancel)."""

    job_id: str
    status: JobStatus
    tenant: str
    """The API key's identity the job belongs to (its record's `owner` field)."""
    now: float
    callback: bytes | None
    """The job's callback record as read under the transaction's WATCH (None: no callback)."""
    error_code: str | None = None
    audio_seconds: float | None = None
    """The decoded duration, once a worker learnt it."""
    queue_wait: float | None = None
    """Seconds from submission to the start of the run that ended it (None: no run started it)."""
    processing_seconds: float | None = None
    quality: tuple[str, QualityRecord] | None = None
    """A completed colonoscopy job's note type and PHI-free quality record (`core.quality_records`)."""
    keep_audio_seconds: int = 0
    """Verification mode: the audio store keeps the audio this long instead of deleting it (0: delete);
    never longer than the job's record lives."""


@dataclass(frozen=True)
class Erased:
    """A job whose every trace is being removed."""

    job_id: str
    tenant: str | None
    """None when its record was gone already (expired)."""


class Participant(Protocol):
    """Takes part in a job's transitions; every hook does nothing unless overridden."""

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        """Inside the create transaction (after MULTI)."""
        return None

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        """Inside the transaction that ends the job (after MULTI)."""
        return None

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        """Inside the erase transaction (after MULTI)."""
        return None

    def after_commit(self, transition: Transition, job_id: str) -> None:
        """Once the transition's transaction has committed; it must not raise (it cannot be undone):
        work that fails is left to a sweep."""
        return None
