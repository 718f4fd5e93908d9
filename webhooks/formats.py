"""The callback formats a job may ask for: each one's media type and body builder.

A new format is one `CallbackFormat` in `CALLBACK_FORMATS`: submission checks, OpenAPI and delivery
read this registry. A job that did not complete is told in the thin envelope whatever its format
(there is no transcript to carry).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.jobs import JobRecord, Transcript
from core.webhook_store import DEFAULT_CALLBACK_FORMAT, WebhookConfig
from findings.fhir import fhir_report_bundle
from webhooks.payloads import envelope, fhir_document_reference, thin_data


@dataclass(frozen=True)
class CallbackEvent:
    """What a body is built from: the ended job, its transcript (for a format that wants it, once the
    job completed), its callback and the event it reports."""

    record: JobRecord
    config: WebhookConfig
    event: str
    when: datetime
    transcript: Transcript | None = None


@dataclass(frozen=True)
class CallbackFormat:
    name: str
    media_type: str
    """The body's type once the job completed."""
    build: Callable[[CallbackEvent], bytes]
    wants_transcript: bool = False
    """Whether `build` needs the transcript (delivery then fails if it is gone)."""
    description: str = ""


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


THIN = CallbackFormat(DEFAULT_CALLBACK_FORMAT, "application/json", thin_body,
                      description="ids and links (Standard Webhooks envelope)")
CALLBACK_FORMATS: dict[str, CallbackFormat] = {f.name: f for f in (
    THIN,
    CallbackFormat("full", "application/json", full_body, wants_transcript=True,
                   description="the thin envelope with the transcript inline"),
    CallbackFormat("fhir", "application/fhir+json", fhir_body, wants_transcript=True,
                   description="a FHIR R4 DocumentReference holding the transcript"),
    CallbackFormat("fhir-report", "application/fhir+json", fhir_report_body, wants_transcript=True,
                   description="a FHIR R4 transaction Bundle: the DocumentReference, a DiagnosticReport and "
                               "one Observation per finding"),
)}
"""Every callback format, by name (tests add their own entries to this dict)."""


def build_callback_body(fmt: CallbackFormat, event: CallbackEvent) -> tuple[bytes, str]:
    """The body and its content type: the format's own once the job completed, else the thin envelope."""
    if event.record.status.value != "completed":
        return THIN.build(event), THIN.media_type
    return fmt.build(event), fmt.media_type
