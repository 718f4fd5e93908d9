"""Which MDM message each change of a note sends, and the numbers, statuses and people it carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.documents import (
    MACHINE_AUTHOR,
    AuditEntry,
    Document,
    DocumentVersion,
    Signature,
    VersionKind,
)
from webhooks.hl7_messages import CompletionStatus, ResultStatus, TriggerEvent
from webhooks.hl7_notes import mdm_note

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def version(number: int, kind: VersionKind, text: str, author: str = "Practitioner/77", replaces: int | None = None,
            signed_at: int | None = None, reason: str | None = None) -> DocumentVersion:
    signature = Signature(tenant="t", author=author, at=at(signed_at)) if signed_at is not None else None
    return DocumentVersion(version=number, kind=kind, text=text, tenant="t", author=author, at=at(number),
                           replaces=replaces, signature=signature, reason=reason)


def note_of(versions: list[DocumentVersion]) -> Document:
    audit = [AuditEntry(action="transcribed", version=1, tenant="t", author=MACHINE_AUTHOR, at=at(1))]
    return Document(job_id="job-1", versions=versions, audit=audit)


def test_a_transcript_signed_without_corrections_is_a_t02_by_its_signer() -> None:
    document = note_of([version(1, VersionKind.TRANSCRIPT, "text", author=MACHINE_AUTHOR)])
    document.versions[0].signature = Signature(tenant="t", author="Practitioner/9", at=at(30))

    preliminary = mdm_note(document, "transcribed", 1, note_type="egd", originated_at=T0)
    signed = mdm_note(document, "signed", 1, note_type="egd", originated_at=T0)

    assert preliminary[0] is TriggerEvent.ORIGINAL
    assert (preliminary[1].completion, preliminary[1].result_status, preliminary[1].author, preliminary[1].signer) == (
        CompletionStatus.DOCUMENTED, ResultStatus.PRELIMINARY, None, None)
    assert signed[0] is TriggerEvent.ORIGINAL
    note = signed[1]
    assert (note.completion, note.result_status, note.author, note.signer, note.signed_at, note.activity_at) == (
        CompletionStatus.LEGALLY_AUTHENTICATED, ResultStatus.FINAL, "Practitioner/9", "Practitioner/9", at(30), at(30))
    assert (note.document_number, note.parent_number, note.transcribed_at, note.originated_at) == (
        "job-1-1", None, at(1), T0)


def test_a_correction_is_a_t08_of_the_first_document_with_its_reason() -> None:
    document = note_of([version(1, VersionKind.TRANSCRIPT, "text", author=MACHINE_AUTHOR),
                        version(2, VersionKind.CORRECTION, "text fixed", reason="typo")])
    event, note = mdm_note(document, "corrected", 2, note_type="colonoscopy", originated_at=T0,
                           patient_reference="Patient/1", encounter_reference="Encounter/2")
    assert event is TriggerEvent.EDIT
    assert (note.version, note.text, note.document_number, note.change_reason, note.author, note.signer) == (
        2, "text fixed", "job-1-1", "typo", "Practitioner/77", None)
    assert (note.patient_reference, note.encounter_reference) == ("Patient/1", "Encounter/2")


def test_an_amendment_of_an_amendment_replaces_the_document_before_it() -> None:
    document = note_of([
        version(1, VersionKind.TRANSCRIPT, "a", author=MACHINE_AUTHOR),
        version(2, VersionKind.CORRECTION, "b", signed_at=20),
        version(3, VersionKind.AMENDMENT, "c", replaces=2, signed_at=40, reason="addendum"),
        version(4, VersionKind.AMENDMENT, "d", author="Practitioner/78", replaces=3, signed_at=50),
    ])
    first = mdm_note(document, "amended", 3, note_type="procedure", originated_at=T0)
    second = mdm_note(document, "amended", 4, note_type="procedure", originated_at=T0)

    assert first[0] is TriggerEvent.REPLACEMENT
    assert (first[1].document_number, first[1].parent_number, first[1].change_reason) == (
        "job-1-3", "job-1-1", "addendum")
    assert (second[1].document_number, second[1].parent_number, second[1].signer) == (
        "job-1-4", "job-1-3", "Practitioner/78")
    assert (second[1].completion, second[1].result_status) == (
        CompletionStatus.LEGALLY_AUTHENTICATED, ResultStatus.CORRECTED)
