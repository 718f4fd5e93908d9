"""A job's note document in Redis (`core.documents`): its versions, signatures and audit trail, kept
beside the job and gone with it.

Layout: one hash per job (`v:{n}` each version's JSON, written once; `sig:{n}` a version's signature,
written once; `current` the newest version) and one list, the audit trail. Both expire with the job
record (its remaining lifetime, read in the same transaction), and the job's erase deletes them
through `NoteVersions`, one of the job's default participants (`core.job_participants`). Each change is
one optimistic transaction over the job record, the document and the job's callback record, so an
erase, an expiry or a concurrent reviewer makes it run again and see that; the same transaction queues
the change's callback event (`document.corrected`, `.signed`, `.amended`) when the job has a callback,
so no version is stored without its event, nor an event sent for a version never stored.

Version 1 (the machine transcript) is stored by the first change; until then reads derive it from the
job's transcript, so a job nobody reviews costs no more keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis
from redis.client import Pipeline

from core import keys
from core.documents import (
    MACHINE_AUTHOR,
    AuditAction,
    AuditEntry,
    Document,
    DocumentVersion,
    Signature,
    VersionKind,
    word_diff,
    words_changed,
)
from core.errors import Conflict, ErrorCode, InvalidInput, NotFound
from core.job_codec import utcnow
from core.job_participants import Erased, Participant
from core.jobs import JobStatus, Transcript
from core.redis_calls import as_bytes, as_hash, as_optional_bytes_list, as_texts, hash_fields, transact
from core.webhook_records import NoteEvent
from core.webhook_store import stage_note_event

_JOB_FIELDS = [keys.TENANT_FIELD, "status", "finished_at"]

MAX_TEXT_CHARS = 200_000
"""A note's text limit: ten times the longest dictated report we have seen."""
MAX_VERSIONS = 100
"""Versions one note may have: every one is kept in full, so an endless edit loop must stop somewhere."""


def document_key(job_id: str) -> str:
    """Hash of a job's note versions and signatures (key names live here until `core.keys` takes them)."""
    return f"{keys.PREFIX}:document:{job_id}"


def document_audit_key(job_id: str) -> str:
    """List of a job's note changes (JSON `AuditEntry`), oldest first."""
    return f"{keys.PREFIX}:document:{job_id}:audit"


class NoteVersions(Participant):
    """The job store's participant for a job's note: its erase removes every version and the audit
    trail (a default participant, `core.job_transactions`; expiry follows the job at each change)."""

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        pipe.delete(document_key(erased.job_id), document_audit_key(erased.job_id))


class DocumentStore:
    """Versions of jobs' notes: reads and changes (their erase is `NoteVersions`')."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, job_id: str, tenant: str) -> Document:
        """The note of `tenant`'s completed job `job_id`, every version and the audit trail."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.job_key(job_id), _JOB_FIELDS)
            pipe.get(keys.result_key(job_id))
            pipe.hgetall(document_key(job_id))
            pipe.lrange(document_audit_key(job_id), 0, -1)
            job, result, stored, audit = pipe.execute()
        return _document(job_id, tenant, as_optional_bytes_list(job), as_bytes(result), as_hash(stored),
                         as_texts(audit))

    def correct(self, job_id: str, text: str, tenant: str, author: str | None = None,
                base_version: int | None = None, reason: str | None = None) -> DocumentVersion:
        """Store `text` as the new version of a note not yet signed. `base_version`: the version the
        reviewer corrected (a newer one makes this a Conflict). The same text as the current version
        stores nothing (a retried request) and returns it."""
        return self._change(job_id, text, tenant, author, base_version, reason, VersionKind.CORRECTION)

    def amend(self, job_id: str, text: str, tenant: str, author: str | None = None,
              base_version: int | None = None, reason: str | None = None) -> DocumentVersion:
        """Store `text` as an amendment of a signed note: a new version, signed by its author as it is
        made, replacing the current one."""
        return self._change(job_id, text, tenant, author, base_version, reason, VersionKind.AMENDMENT)

    def revise(self, job_id: str, text: str, tenant: str, author: str | None = None,
               base_version: int | None = None, reason: str | None = None) -> DocumentVersion:
        """Store `text` as the note's new version: a correction before signature, an amendment after it,
        decided in the same transaction as the write (a signature landing meanwhile makes it an amendment
        of what was signed, or a Conflict when `base_version` is given)."""
        return self._change(job_id, text, tenant, author, base_version, reason, None)

    def sign(self, job_id: str, tenant: str, author: str | None = None,
             base_version: int | None = None) -> DocumentVersion:
        """Make the current version final, signed by `author` now. `base_version`: the version the
        signer read (a newer one makes this a Conflict: nobody signs text they have not seen)."""

        def body(pipe: Pipeline) -> DocumentVersion:
            read = _read(pipe, job_id, tenant)
            document = read.document
            current = _check_base(document, base_version)
            if document.signed:
                raise Conflict(f"this note was signed already (version {current.version}); amend it to change it",
                               code=ErrorCode.DOCUMENT_SIGNED)
            now = utcnow()
            signature = Signature(tenant=tenant, author=author, at=now)
            pipe.multi()
            _stage(pipe, read, {f"sig:{current.version}": signature.model_dump_json()},
                   AuditEntry(action="signed", version=current.version, tenant=tenant, author=author, at=now))
            return current.model_copy(update={"signature": signature})

        return transact(self.redis, body, *_watched(job_id))

    # ---- the transactions ----------------------------------------------------------------------

    def _change(self, job_id: str, text: str, tenant: str, author: str | None, base_version: int | None,
                reason: str | None, asked: VersionKind | None) -> DocumentVersion:
        if not text.strip():
            raise InvalidInput("the note's text is empty; send the whole corrected text")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidInput(f"the note's text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")

        def body(pipe: Pipeline) -> DocumentVersion:
            read = _read(pipe, job_id, tenant)
            document = read.document
            current = _check_base(document, base_version)
            kind = asked or (VersionKind.AMENDMENT if document.signed else VersionKind.CORRECTION)
            if kind is VersionKind.CORRECTION and document.signed:
                raise Conflict("this note is signed: a signed note is amended (a new version), not corrected",
                               code=ErrorCode.DOCUMENT_SIGNED)
            if kind is VersionKind.AMENDMENT and not document.signed:
                raise Conflict("this note is not signed yet: correct it, or sign it first")
            if text == current.text:
                return current
            if current.version >= MAX_VERSIONS:
                raise Conflict(f"this note has {current.version} versions, the limit; "
                               "no further change can be stored", code=ErrorCode.DOCUMENT_TOO_MANY_VERSIONS)
            now, number = utcnow(), current.version + 1
            diff = word_diff(current.text, text)
            version = DocumentVersion(
                version=number, kind=kind, text=text, tenant=tenant, author=author, at=now, diff=diff, reason=reason,
                replaces=current.version if kind is VersionKind.AMENDMENT else None)
            fields = {f"v:{number}": version.model_dump_json(exclude={"signature"}), "current": str(number)}
            action: AuditAction = "corrected"
            if kind is VersionKind.AMENDMENT:
                version.signature = Signature(tenant=tenant, author=author, at=now)
                fields[f"sig:{number}"] = version.signature.model_dump_json()
                action = "amended"
            pipe.multi()
            _stage(pipe, read, fields, AuditEntry(
                action=action, version=number, tenant=tenant, author=author, at=now,
                words_changed=words_changed(diff)))
            return version

        return transact(self.redis, body, *_watched(job_id))


@dataclass(frozen=True)
class _Read:
    job_id: str
    document: Document
    fresh: bool
    """Version 1 is not stored yet (derived from the transcript)."""
    ttl_ms: int
    """The job record's remaining lifetime."""
    callback: bytes | None
    """The job's callback record (None: it has no callback)."""


def _watched(job_id: str) -> tuple[str, ...]:
    return keys.job_key(job_id), document_key(job_id), keys.webhook_key(job_id)


def _read(pipe: Pipeline, job_id: str, tenant: str) -> _Read:
    """Under WATCH, before MULTI: the document as stored (or as it starts)."""
    job = as_optional_bytes_list(pipe.hmget(keys.job_key(job_id), _JOB_FIELDS))
    stored = as_hash(pipe.hgetall(document_key(job_id)))
    result = None if stored else as_bytes(pipe.get(keys.result_key(job_id)))
    audit = as_texts(pipe.lrange(document_audit_key(job_id), 0, -1))
    document = _document(job_id, tenant, job, result, stored, audit)
    return _Read(job_id, document, not stored, int(pipe.pttl(keys.job_key(job_id))),
                 as_bytes(pipe.get(keys.webhook_key(job_id))))


def _stage(pipe: Pipeline, read: _Read, fields: dict[str, str], entry: AuditEntry) -> None:
    """After MULTI: version 1 if it is not stored yet, the change, its audit entry, the job's expiry,
    and the change's callback event."""
    doc, audit = document_key(read.job_id), document_audit_key(read.job_id)
    if read.fresh:
        first = read.document.versions[0]
        pipe.hset(doc, mapping={"v:1": first.model_dump_json(exclude={"signature"}), "current": "1"})
        pipe.rpush(audit, read.document.audit[0].model_dump_json())
    pipe.hset(doc, mapping=hash_fields(fields))
    pipe.rpush(audit, entry.model_dump_json())
    if read.ttl_ms > 0:  # the job's remaining retention: the note goes when the job does
        pipe.pexpire(doc, read.ttl_ms)
        pipe.pexpire(audit, read.ttl_ms)
    if entry.action != "transcribed":  # version 1 is the job's own event (`job.completed`)
        stage_note_event(pipe, read.job_id, read.callback, NoteEvent(action=entry.action, version=entry.version),
                         entry.at.timestamp())


def _document(job_id: str, tenant: str, job: list[bytes | None], result: bytes | None,
              stored: dict[bytes, bytes], audit: list[str]) -> Document:
    """The document from what Redis holds; NotFound / Conflict when there is none to review."""
    owner, status, finished = ((v or b"").decode() for v in job)
    if not status or owner != tenant:
        raise NotFound(f"no job with id {job_id}")
    if not stored:
        first = _first_version(job_id, status, finished, owner, result)
        return Document(job_id=job_id, versions=[first], audit=[AuditEntry(
            action="transcribed", version=1, tenant=first.tenant, author=first.author, at=first.at)])
    fields = {k.decode(): v for k, v in stored.items()}
    versions = []
    for number in range(1, int(fields["current"]) + 1):
        version = DocumentVersion.model_validate_json(fields[f"v:{number}"])
        if f"sig:{number}" in fields:
            version.signature = Signature.model_validate_json(fields[f"sig:{number}"])
        versions.append(version)
    return Document(job_id=job_id, versions=versions, audit=[AuditEntry.model_validate_json(a) for a in audit])


def _first_version(job_id: str, status: str, finished: str, owner: str, result: bytes | None) -> DocumentVersion:
    """Version 1: the job's transcript."""
    if status != JobStatus.COMPLETED:
        raise Conflict(f"job {job_id} is {status}: only a completed job's transcript can be reviewed",
                       code=ErrorCode.of(f"job_{status}"))
    if result is None:
        raise NotFound(f"the transcript of job {job_id} has expired or was erased", code=ErrorCode.RESULT_GONE)
    at = datetime.fromisoformat(finished) if finished else utcnow()
    return DocumentVersion(version=1, kind=VersionKind.TRANSCRIPT, text=Transcript.model_validate_json(result).text,
                           tenant=owner, author=MACHINE_AUTHOR, at=at)


def _check_base(document: Document, base_version: int | None) -> DocumentVersion:
    current = document.current
    if base_version is not None and base_version != current.version:
        raise Conflict(f"version {current.version} is the current one, not {base_version}: "
                       "read the note again and redo the change on it", code=ErrorCode.STALE_VERSION)
    return current
