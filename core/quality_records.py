"""A key's quality records: one PHI-free `QualityRecord` per completed colonoscopy job, kept longer than
its transcript so the key's quality numbers outlive the notes they came from.

A participant of the job aggregate (`core.job_participants`): the end transaction that stores a
job's transcript adds its record to the key's sorted set (scored by the end time), so no path that
completes a job can skip it. A record holds values only (no words, spans, times or identifiers of
the patient; the member names the job by its random id so two equal notes stay two). It is kept for
`quality_retention_seconds` from the job's end, whatever the job's own retention.
"""

from __future__ import annotations

import json

import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Ended
from core.jobs import JobStatus, Transcript
from findings.models import ColonoscopyFindings
from findings.quality import QualityRecord, quality_record

QUALITY_NOTE_TYPES = ("colonoscopy", "sigmoidoscopy")
"""The note types the quality measures read (the colonoscopy findings model)."""
DEFAULT_QUALITY_RETENTION_SECONDS = 2 * 365 * 24 * 3600


def record_of(transcript: Transcript | None) -> tuple[str, QualityRecord] | None:
    """A completed job's note type and quality record; None when its findings are not a colonoscopy's."""
    found = transcript.findings if transcript is not None else None
    if found is None or found.note_type not in QUALITY_NOTE_TYPES or not isinstance(found.findings,
                                                                                      ColonoscopyFindings):
        return None
    return found.note_type, quality_record(found.findings)


class QualityRecords:
    """The participant that keeps each key's quality records, and their reads."""

    def __init__(self, retention_seconds: int = DEFAULT_QUALITY_RETENTION_SECONDS) -> None:
        self.retention_seconds = retention_seconds

    def on_create(self, pipe: Pipeline, created: object) -> None:
        pass

    def on_erase(self, pipe: Pipeline, erased: object) -> None:
        pass  # PHI-free and the point of keeping them: a key's numbers outlive its erased notes

    def after_commit(self, transition: object, job_id: str) -> None:
        pass

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        if ended.status != JobStatus.COMPLETED or ended.quality is None:
            return
        note_type, record = ended.quality
        key = keys.quality_key(ended.tenant)
        member = json.dumps({"job": ended.job_id, "note_type": note_type, "record": record.model_dump()},
                            separators=(",", ":"))
        pipe.zadd(key, {member: ended.now})
        pipe.zremrangebyscore(key, "-inf", ended.now - self.retention_seconds)
        pipe.expire(key, self.retention_seconds)


def read_dated_records(client: redis.Redis, tenant: str, start: float, end: float,
                       note_types: tuple[str, ...] = QUALITY_NOTE_TYPES) -> list[tuple[float, QualityRecord]]:
    """The key's records of jobs that ended in [start, end) (epoch seconds), of these note types, each
    with its job's end time, oldest first."""
    raw: list[tuple[bytes, float]] = client.zrangebyscore(  # type: ignore[assignment]
        keys.quality_key(tenant), start, f"({end}", withscores=True)
    dated = []
    for member, ended in raw:
        entry = json.loads(member)
        if entry["note_type"] in note_types:
            dated.append((ended, QualityRecord.model_validate(entry["record"])))
    return dated


def read_records(client: redis.Redis, tenant: str, start: float, end: float,
                 note_type: str | None = None) -> list[QualityRecord]:
    """The key's records of jobs that ended in [start, end) (epoch seconds), of one note type or all."""
    kinds = QUALITY_NOTE_TYPES if note_type is None else (note_type,)
    return [record for _, record in read_dated_records(client, tenant, start, end, kinds)]
