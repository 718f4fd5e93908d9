"""Which MDM message a change of a job's note sends, and what it carries (`core.documents` to
`webhooks.hl7_messages`).

| change | trigger | TXA-17 | OBX-11 | TXA-12 / TXA-13 |
|---|---|---|---|---|
| transcribed (v1, preliminary) | T02 | DO | P | the document's number |
| corrected (before signature) | T08 | DO | P | the same number |
| signed (the first signature) | T02 | LA | F | the same number |
| amended (after signature) | T10 | LA | C | a new number / the replaced one's |
"""

from __future__ import annotations

from datetime import datetime

from core.documents import MACHINE_AUTHOR, AuditAction, Document
from webhooks.hl7_messages import (
    CompletionStatus,
    NoteDocument,
    ResultStatus,
    TriggerEvent,
    document_number,
)

TRIGGERS: dict[AuditAction, TriggerEvent] = {
    "transcribed": TriggerEvent.ORIGINAL,
    "corrected": TriggerEvent.EDIT,
    "signed": TriggerEvent.ORIGINAL,
    "amended": TriggerEvent.REPLACEMENT,
}


def mdm_note(document: Document, action: AuditAction, version: int, *, note_type: str, originated_at: datetime,
             patient_reference: str | None = None, encounter_reference: str | None = None,
             ) -> tuple[TriggerEvent, NoteDocument]:
    """The trigger event and the content of the message telling an EHR that `action` made `version`."""
    current = document.versions[version - 1]
    start = document.lineage_start(version)
    parent = None
    if current.replaces is not None:
        parent = document_number(document.job_id, document.lineage_start(current.replaces))
    signature = current.signature if action in {"signed", "amended"} else None
    # The transcription is no person: the dictating clinician is who signs it, or unknown until then.
    author = None if current.author == MACHINE_AUTHOR else current.author
    if signature is not None:
        completion = CompletionStatus.LEGALLY_AUTHENTICATED
        result = ResultStatus.CORRECTED if action == "amended" else ResultStatus.FINAL
    else:
        completion, result = CompletionStatus.DOCUMENTED, ResultStatus.PRELIMINARY
    note = NoteDocument(
        job_id=document.job_id, version=version, text=current.text, note_type=note_type,
        document_number=document_number(document.job_id, start), parent_number=parent,
        activity_at=signature.at if signature is not None else current.at, originated_at=originated_at,
        transcribed_at=document.versions[0].at, completion=completion, result_status=result,
        author=author or (signature.author if signature is not None else None),
        signer=signature.author if signature is not None else None,
        signed_at=signature.at if signature is not None else None,
        change_reason=current.reason if action in {"corrected", "amended"} else None,
        patient_reference=patient_reference, encounter_reference=encounter_reference,
    )
    return TRIGGERS[action], note
