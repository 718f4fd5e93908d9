"""The callback formats a job may ask for: each one's media type, transport and body builders.

A new format is one `CallbackFormat` in `CALLBACK_FORMATS`: submission checks, OpenAPI and delivery
read this registry. Each builds two kinds of body: one for the job's end (`job.completed`, ...) and
one for each later change of its note (`document.corrected`, `.signed`, `.amended`). A job that did
not complete is told in the thin envelope whatever its HTTP format (there is no transcript to carry);
an HL7 target has nothing to be told then (there is no note).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from core.documents import AuditAction, Document
from core.errors import EndoScribeError
from core.jobs import JobRecord, Transcript
from core.webhook_records import DEFAULT_CALLBACK_FORMAT, NoteEvent, WebhookConfig
from findings.fhir import fhir_report_bundle
from webhooks.hl7_messages import control_id_for, mdm_message
from webhooks.hl7_notes import mdm_note
from webhooks.mllp import parse_mllp_target
from webhooks.payloads import (
    envelope,
    fhir_document_reference,
    fhir_note_bundle,
    fhir_note_reference,
    note_data,
    thin_data,
)

HL7_FORMAT = "hl7v2"
"""The format of an `mllp://` target: HL7 v2.5.1 MDM messages (`webhooks.hl7_notes`)."""


@dataclass(frozen=True)
class CallbackEvent:
    """What a body is built from: the ended job, its transcript (for a format that wants it, once the
    job completed), its callback and the event it reports."""

    record: JobRecord
    config: WebhookConfig
    event: str
    when: datetime
    transcript: Transcript | None = None
    document: Document | None = None
    """The job's note, for a format that wants it (the HL7 one: version 1 is the preliminary note)."""
    message_id: str = ""
    """The webhook-id of this event (an HL7 message's control id derives from it)."""


@dataclass(frozen=True)
class NoteCallback:
    """What the body of a note change's event is built from: the job, its note as it stood right after
    the change (`Document.as_of`), the change, and the transcript's language."""

    record: JobRecord
    config: WebhookConfig
    note: NoteEvent
    when: datetime
    """When the change was made (a signature's time, for a signature)."""
    document: Document
    language: str
    message_id: str = ""

    @property
    def event(self) -> str:
        return self.note.event


@dataclass(frozen=True)
class CallbackFormat:
    name: str
    media_type: str
    """The body's type once the job completed."""
    build: Callable[[CallbackEvent], bytes]
    build_note: Callable[[NoteCallback], bytes] | None = None
    """The body of a note change's event; None: the thin envelope's, in `application/json`."""
    wants_transcript: bool = False
    """Whether `build` needs the transcript (delivery then fails if it is gone)."""
    description: str = ""
    scheme: Literal["http", "mllp"] = "http"
    """How it travels: a signed POST to an http(s):// target, or MLLP to an mllp:// one."""
    wants_document: bool = False
    """Whether `build` needs the job's note (`CallbackEvent.document`)."""


def compact_json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def thin_body(e: CallbackEvent) -> bytes:
    data = thin_data(e.record, e.config.status_url, e.config.result_url)
    return compact_json(envelope(e.event, e.when, data))


def full_body(e: CallbackEvent) -> bytes:
    data = thin_data(e.record, e.config.status_url, e.config.result_url)
    if e.transcript is not None:
        data["transcript"] = e.transcript.model_dump(exclude_none=True, exclude={"findings"})
    return compact_json(envelope(e.event, e.when, data))


def fhir_body(e: CallbackEvent) -> bytes:
    # The resource itself is the body: what an EHR's FHIR endpoint ingests.
    assert e.transcript is not None
    c = e.config
    return compact_json(fhir_document_reference(e.record, e.transcript, c.note_type, c.patient_reference,
                                                c.encounter_reference))


def fhir_report_body(e: CallbackEvent) -> bytes:
    # A transaction Bundle: the DocumentReference, a DiagnosticReport, one Observation per finding.
    assert e.transcript is not None
    c = e.config
    findings = e.transcript.findings.findings if e.transcript.findings else None
    return compact_json(fhir_report_bundle(e.record, e.transcript, c.note_type, findings, c.patient_reference,
                                           c.encounter_reference))


def thin_note_body(e: NoteCallback) -> bytes:
    data = note_data(e.record, e.document, e.note.version, e.config.status_url, e.config.result_url)
    return compact_json(envelope(e.event, e.when, data))


def full_note_body(e: NoteCallback) -> bytes:
    data = note_data(e.record, e.document, e.note.version, e.config.status_url, e.config.result_url, text=True)
    return compact_json(envelope(e.event, e.when, data))


def fhir_note_body(e: NoteCallback) -> bytes:
    c = e.config
    return compact_json(fhir_note_reference(e.record, e.document, e.note.version, e.language, c.note_type,
                                            c.patient_reference, c.encounter_reference))


def fhir_note_report_body(e: NoteCallback) -> bytes:
    # The findings were read from the machine transcript: a change of the note sends only its new
    # DocumentReference, in a transaction Bundle as the job's report came.
    c = e.config
    return compact_json(fhir_note_bundle(fhir_note_reference(
        e.record, e.document, e.note.version, e.language, c.note_type, c.patient_reference, c.encounter_reference)))


def hl7_body(e: CallbackEvent) -> bytes:
    assert e.document is not None
    return _mdm(e.record, e.config, e.document, "transcribed", 1, e.message_id, e.when)


def hl7_note_body(e: NoteCallback) -> bytes:
    return _mdm(e.record, e.config, e.document, e.note.action, e.note.version, e.message_id, e.when)


def _mdm(record: JobRecord, c: WebhookConfig, document: Document, action: AuditAction, version: int,
         message_id: str, now: datetime) -> bytes:
    trigger, note = mdm_note(document, action, version, note_type=c.note_type, originated_at=record.created_at,
                             patient_reference=c.patient_reference, encounter_reference=c.encounter_reference)
    # The target was parsed at submit; its addressing (MSH-4/5/6/11) is what the engine routes on.
    return mdm_message(note, trigger, control_id_for(message_id), now, parse_mllp_target(c.url).addressing).encode()


THIN = CallbackFormat(DEFAULT_CALLBACK_FORMAT, "application/json", thin_body, thin_note_body,
                      description="ids and links (Standard Webhooks envelope)")
CALLBACK_FORMATS: dict[str, CallbackFormat] = {f.name: f for f in (
    THIN,
    CallbackFormat("full", "application/json", full_body, full_note_body, wants_transcript=True,
                   description="the thin envelope with the transcript (or the note's version) inline"),
    CallbackFormat("fhir", "application/fhir+json", fhir_body, fhir_note_body, wants_transcript=True,
                   description="a FHIR R4 DocumentReference holding the transcript, then each version of the note"),
    CallbackFormat("fhir-report", "application/fhir+json", fhir_report_body, fhir_note_report_body,
                   wants_transcript=True,
                   description="a FHIR R4 transaction Bundle: the DocumentReference, a DiagnosticReport and "
                               "one Observation per finding; then each version of the note's DocumentReference"),
    CallbackFormat(HL7_FORMAT, "x-application/hl7-v2+er7", hl7_body, hl7_note_body, scheme="mllp",
                   wants_document=True,
                   description="HL7 v2.5.1 MDM messages over MLLP, for an mllp://host:port target (the default "
                               "there): T02 for the preliminary note and the signature, T08 for a correction, "
                               "T10 for an amendment"),
)}
"""Every callback format, by name (tests add their own entries to this dict)."""


class NothingToSend(EndoScribeError):
    """The event has no body in the callback's format (an HL7 target of a job that did not complete)."""


def build_callback_body(fmt: CallbackFormat, event: CallbackEvent) -> tuple[bytes, str]:
    """The body and its content type: the format's own once the job completed, else the thin envelope
    (over HTTP; an MLLP target has no message for a job without a note)."""
    if event.record.status.value != "completed":
        if fmt.scheme == "mllp":
            raise NothingToSend(f"the job ended {event.record.status.value}: there is no note to send as HL7 MDM")
        return THIN.build(event), THIN.media_type
    return fmt.build(event), fmt.media_type


def build_note_body(fmt: CallbackFormat, event: NoteCallback) -> tuple[bytes, str]:
    """The body of a note change's event and its content type."""
    if fmt.build_note is None:
        return thin_note_body(event), THIN.media_type
    return fmt.build_note(event), fmt.media_type
