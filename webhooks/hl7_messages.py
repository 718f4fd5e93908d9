"""HL7 v2.5.1 MDM messages for a note's lifecycle: what an EHR's interface engine ingests.

One message per document event: MDM^T02 (original document with content) for the preliminary note and
for the first signature, MDM^T08 (edit) for a correction, MDM^T10 (replacement) for an amendment of a
signed note. Each carries MSH, EVN, PID and PV1 (the job's patient and encounter), TXA (the document:
type, numbers, status, authentication) and one OBX TX line per line of text. Pure functions: the
sender (`webhooks.mllp`) frames and sends the text they return.

Document numbers: a document keeps its number (TXA-12) while it is corrected and signed; an amendment
is a new document whose parent (TXA-13) is the one it replaces. TXA-16 names the exact version sent
(`{job id}-{version}`), so a receiver can tell versions apart within one document.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import parse_qs, urlsplit

import hl7

from core.note_types import DEFAULT_NOTE_TYPE, NOTE_TYPES

SENDING_APPLICATION = "EndoScribe"
VERSION_ID = "2.5.1"
CHARACTER_SET = "UNICODE UTF-8"
"""MSH-18: text outside ASCII travels as UTF-8, not as HL7 hex escapes (see `escape_text`)."""
DOCUMENT_TYPE = "PN"
"""TXA-2 (HL7 table 0270): every note EndoScribe writes is a procedure note; the LOINC code of its
note type goes in OBX-3."""
NUMBER_NAMESPACE = "EndoScribe"
"""The assigning authority of the document numbers (EI namespace id)."""

# The library's escaping needs the delimiters a message declares: the standard ones.
_DELIMITERS = hl7.Message(separators="\r|~^&", esc="\\")
_NON_ASCII = re.compile(r"([^\x00-\x7f]+)")


class TriggerEvent(StrEnum):
    """The MDM trigger events EndoScribe sends (HL7 v2.5.1 chapter 9)."""

    ORIGINAL = "T02"
    """Original document notification and content: the preliminary note, and the first signature."""
    EDIT = "T08"
    """Document edit notification and content: a correction before signature."""
    REPLACEMENT = "T10"
    """Document replacement notification and content: an amendment of a signed note."""


class CompletionStatus(StrEnum):
    """TXA-17 (HL7 table 0271). The table has no "preliminary": a machine draft awaiting review is
    `DO` (documented, available for review); a clinician's signature is a legal authentication."""

    DOCUMENTED = "DO"
    AUTHENTICATED = "AU"
    LEGALLY_AUTHENTICATED = "LA"


class ResultStatus(StrEnum):
    """OBX-11 (HL7 table 0085)."""

    PRELIMINARY = "P"
    FINAL = "F"
    CORRECTED = "C"
    """A correction of a final result: what an amendment is."""


@dataclass(frozen=True)
class NoteDocument:
    """One version of a note, as a message carries it."""

    job_id: str
    version: int
    text: str
    note_type: str
    """A key of `webhooks.payloads.NOTE_TYPES` (its LOINC code goes in OBX-3)."""
    document_number: str
    """TXA-12: the document this version belongs to (see `document_number`)."""
    activity_at: datetime
    """When this version was made (TXA-4, and TXA-8 for an edit)."""
    originated_at: datetime
    """When the dictation was submitted (TXA-6)."""
    transcribed_at: datetime | None = None
    """When the machine transcript was done (TXA-7)."""
    parent_number: str | None = None
    """TXA-13, for a replacement: the document it replaces."""
    completion: CompletionStatus = CompletionStatus.DOCUMENTED
    result_status: ResultStatus = ResultStatus.PRELIMINARY
    author: str | None = None
    """A reference to whoever dictated or changed the text (FHIR `Practitioner/123`, or a plain id)."""
    signer: str | None = None
    signed_at: datetime | None = None
    change_reason: str | None = None
    """TXA-21, for an edit or a replacement."""
    patient_reference: str | None = None
    encounter_reference: str | None = None


@dataclass(frozen=True)
class Addressing:
    """Who the message goes to and how it is processed (MSH-4, -5, -6, -11)."""

    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    processing_id: str = "P"
    """P production, T training, D debugging (HL7 table 0103)."""


def new_control_id() -> str:
    """A fresh MSH-10: python-hl7's 20 characters (the field's v2.5.1 length), unique for years."""
    return str(hl7.generate_message_control_id())


def control_id_for(message_id: str) -> str:
    """MSH-10 of the message for one event (its webhook-id): 20 characters (the field's v2.5.1 length),
    the same on every retry of it, so an engine that keeps control ids drops a resent duplicate."""
    return hashlib.sha256(message_id.encode()).hexdigest()[:20].upper()


def document_number(job_id: str, version: int) -> str:
    """The number of the document that starts at `version` of a job's note (version 1, or an amendment)."""
    return f"{job_id}-{version}"


def hl7_timestamp(when: datetime) -> str:
    """An HL7 DTM in UTC, to the second: `YYYYMMDDHHMMSS+0000`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def escape_text(value: str) -> str:
    """`value` safe inside one HL7 field: the library escapes the delimiters (| ^ ~ \\ &) and control
    characters; text outside ASCII stays as it is (the message declares UTF-8), because the library
    would write it as code points in hex escapes, which receivers read as bytes of the character set."""
    parts = _NON_ASCII.split(value)
    return "".join(part if index % 2 else (_DELIMITERS.escape(part) or "") for index, part in enumerate(parts))


def identifier_from_reference(reference: str) -> tuple[str, str]:
    """(id, assigning authority) from a FHIR reference: `Patient/123` gives ("123", ""),
    `https://fhir.example.org/Patient/123` gives ("123", "fhir.example.org"), and a conditional
    reference `Patient?identifier=urn:oid:1.2.3|MRN42` gives ("MRN42", "urn:oid:1.2.3"); anything
    else is taken as a plain id."""
    reference = reference.strip()
    if "?" in reference:
        query = parse_qs(reference.split("?", 1)[1]).get("identifier", [""])[0]
        system, _, value = query.rpartition("|")
        return (value, system) if value else (reference, "")
    parts = urlsplit(reference)
    path = [p for p in parts.path.split("/") if p]
    if "_history" in path:
        path = path[:path.index("_history")]
    if len(path) >= 2:
        return path[-1], parts.hostname or ""
    return reference, ""


def _cx(reference: str, type_code: str) -> str:
    """A CX (extended composite id): ID^^^assigning authority^identifier type code."""
    value, authority = identifier_from_reference(reference)
    return "^".join([escape_text(value), "", "", escape_text(authority), type_code])


def _xcn(reference: str | None) -> str:
    """An XCN (a person) with only its id: EndoScribe knows no names."""
    return escape_text(identifier_from_reference(reference)[0]) if reference else ""


def _ppn(reference: str, when: datetime) -> str:
    """A PPN: the person's id, and the time they acted in component 15."""
    return "^".join([_xcn(reference), *[""] * 13, hl7_timestamp(when)])


def _segment(name: str, *fields: str) -> str:
    return "|".join([name, *fields]).rstrip("|")


def _fields(values: dict[int, str]) -> list[str]:
    """Fields 1..max of a segment from {position: value}."""
    return [values.get(i, "") for i in range(1, max(values) + 1)]


def mdm_message(document: NoteDocument, event: TriggerEvent, control_id: str, now: datetime,
                addressing: Addressing | None = None) -> str:
    """The MDM^`event` message for `document` as wire text (segments ended by CR), ready to frame."""
    to = addressing or Addressing()
    note_type = NOTE_TYPES[document.note_type or DEFAULT_NOTE_TYPE]
    code, display = note_type.loinc_code, note_type.loinc_display
    msh = "|".join([
        "MSH", "^~\\&", SENDING_APPLICATION, escape_text(to.sending_facility), escape_text(to.receiving_application),
        escape_text(to.receiving_facility), hl7_timestamp(now), "", f"MDM^{event.value}^MDM_T02",
        escape_text(control_id), to.processing_id, VERSION_ID, "", "", "", "", "", CHARACTER_SET,
    ])
    evn = _segment("EVN", event.value, hl7_timestamp(now))
    pid = _segment("PID", *_fields({
        1: "1", 3: _cx(document.patient_reference, "PI") if document.patient_reference else ""}))
    pv1 = _segment("PV1", *_fields({
        1: "1", 2: "U", 19: _cx(document.encounter_reference, "VN") if document.encounter_reference else ""}))
    txa = _segment("TXA", *_fields(_txa_fields(document, event)))
    observation = f"{code}^{escape_text(display)}^LN"
    obx = [
        _segment("OBX", str(index), "TX", observation, "1", escape_text(line), "", "", "", "", "",
                 document.result_status.value)
        for index, line in enumerate(document.text.splitlines() or [""], start=1)
    ]
    return "\r".join([msh, evn, pid, pv1, txa, *obx]) + "\r"


def _txa_fields(document: NoteDocument, event: TriggerEvent) -> dict[int, str]:
    fields = {
        1: "1", 2: DOCUMENT_TYPE, 3: "TX", 4: hl7_timestamp(document.activity_at), 5: _xcn(document.author),
        6: hl7_timestamp(document.originated_at),
        7: hl7_timestamp(document.transcribed_at) if document.transcribed_at else "",
        8: hl7_timestamp(document.activity_at) if event is TriggerEvent.EDIT else "",
        9: _xcn(document.author),
        12: f"{escape_text(document.document_number)}^{NUMBER_NAMESPACE}",
        13: f"{escape_text(document.parent_number)}^{NUMBER_NAMESPACE}" if document.parent_number else "",
        16: escape_text(f"{document.job_id}-{document.version}"),
        17: document.completion.value,
        19: "AV",  # available for patient care (HL7 table 0273)
        21: escape_text(document.change_reason or ""),
    }
    if document.signer and document.signed_at:
        fields[10] = _xcn(document.signer)
        fields[22] = _ppn(document.signer, document.signed_at)
    return fields


def ack_code(ack: str) -> tuple[str, str, str]:
    """(MSA-1 acknowledgment code, MSA-2 the control id it answers, the error text) of an ACK's wire
    text; raises `hl7.ParseException` or `ValueError` when it is no ACK."""
    message = hl7.parse(ack)
    if str(message.segment("MSH")(9)(1)(1)) != "ACK":
        raise ValueError(f"the answer is a {message.segment('MSH')(9)} message, not an ACK")
    msa = message.segment("MSA")
    text = str(msa(3)) if len(msa) > 3 else ""
    try:
        err = message.segment("ERR")
        detail = str(err(8)) if len(err) > 8 else str(err(3)) if len(err) > 3 else ""
    except KeyError:
        detail = ""
    return str(msa(1)), str(msa(2)), message.unescape(detail or text)
