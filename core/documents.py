"""A job's note as a document with versions: the stored shapes, the statuses, and the word diff.

Version 1 is the machine transcript. Before signature, a reviewer's correction is a new version; a
signature makes the current version final; after it, a change is an amendment: a new version that
replaces the signed one. No version is ever edited in place, and every change is in the audit trail.
The statuses are FHIR's DocumentReference.docStatus: preliminary, final, amended.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

MACHINE_AUTHOR = "endoscribe"
"""The author of version 1: the transcription, not a person."""


class DocumentStatus(StrEnum):
    """FHIR DocumentReference.docStatus of a version (and of the document: its current version's)."""

    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"


class VersionKind(StrEnum):
    TRANSCRIPT = "transcript"
    CORRECTION = "correction"
    AMENDMENT = "amendment"


class WordChange(BaseModel):
    """One change between a version and the one before, in words."""

    op: Literal["replace", "insert", "delete"]
    at: int
    """The position of the first word concerned in the earlier version."""
    removed: str = ""
    added: str = ""


class Signature(BaseModel):
    tenant: str
    """The API key's identity that signed."""
    author: str | None
    """Who signed, as the client names them (e.g. `Practitioner/77`)."""
    at: datetime


class DocumentVersion(BaseModel):
    """One version of the note's text: stored once, never changed."""

    version: int
    kind: VersionKind
    text: str
    tenant: str
    author: str | None
    at: datetime
    replaces: int | None = None
    """The signed version an amendment replaces (FHIR relatesTo.replaces, HL7 TXA-13)."""
    diff: list[WordChange] = Field(default_factory=list)
    """What changed from the version before (empty for version 1)."""
    reason: str | None = None
    signature: Signature | None = None
    """The signature of this version, when it was signed (an amendment is signed by its author as it
    is made). Stored beside the version, not in it: signing adds a record and changes none."""

    @property
    def status(self) -> DocumentStatus:
        if self.kind is VersionKind.AMENDMENT:
            return DocumentStatus.AMENDED
        return DocumentStatus.FINAL if self.signature is not None else DocumentStatus.PRELIMINARY


AuditAction = Literal["transcribed", "corrected", "signed", "amended"]


class AuditEntry(BaseModel):
    """One change in a document's history: what, to which version, by whom, when."""

    action: AuditAction
    version: int
    tenant: str
    author: str | None
    at: datetime
    words_changed: int = 0


class Document(BaseModel):
    """A job's note: every version, oldest first, and its audit trail."""

    job_id: str
    versions: list[DocumentVersion]
    audit: list[AuditEntry]

    @property
    def current(self) -> DocumentVersion:
        return self.versions[-1]

    @property
    def status(self) -> DocumentStatus:
        return self.current.status

    @property
    def signed(self) -> bool:
        return any(v.signature is not None for v in self.versions)

    def as_of(self, version: int, action: AuditAction) -> Document:
        """The document as it stood right after `action` made `version`: later versions left out, and
        `version` unsigned unless the change was its signature (or an amendment, signed as it is made).
        What a queued event reports, whatever happened to the note since."""
        versions = [v.model_copy() for v in self.versions[:version]]
        if action not in {"signed", "amended"}:
            versions[-1].signature = None
        made = next((i for i, e in enumerate(self.audit) if (e.action, e.version) == (action, version)),
                    len(self.audit) - 1)
        return Document(job_id=self.job_id, versions=versions, audit=self.audit[:made + 1])

    def lineage_start(self, version: int) -> int:
        """The version that started the document `version` belongs to: 1, or the amendment it is (an
        amendment is a new document in HL7 terms, TXA-12; corrections and signatures keep the number)."""
        return max(v.version for v in self.versions[:version] if v.version == 1 or v.kind is VersionKind.AMENDMENT)


_WORD = re.compile(r"\S+")


def word_diff(before: str, after: str) -> list[WordChange]:
    """The changes from `before` to `after`, word by word (whitespace alone changes nothing)."""
    old, new = _WORD.findall(before), _WORD.findall(after)
    changes = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            changes.append(WordChange(op=op, at=i1, removed=" ".join(old[i1:i2]), added=" ".join(new[j1:j2])))
    return changes


def words_changed(changes: list[WordChange]) -> int:
    """Words removed or added (a replaced word counts once)."""
    return sum(max(len(c.removed.split()), len(c.added.split())) for c in changes)
