"""What a callback carries: `thin` (ids and links), `full` (transcript inline) or `fhir` (DocumentReference)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from core.jobs import JobRecord, Transcript
from core.note_types import NOTE_TYPES

LOINC = "http://loinc.org"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
JOB_IDENTIFIER_SYSTEM = "urn:endoscribe:job"


def thin_data(record: JobRecord, status_url: str, result_url: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "status": record.status.value, "status_url": status_url}
    if record.status.value == "completed":
        data["result_url"] = result_url
    if record.error is not None:
        data["error"] = record.error.model_dump()
    return data


def envelope(event: str, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": event, "timestamp": when.isoformat().replace("+00:00", "Z"), "data": data}


def fhir_document_reference(
    record: JobRecord,
    transcript: Transcript,
    note_type: str,
    patient_reference: str | None,
    encounter_reference: str | None,
) -> dict[str, Any]:
    """A FHIR R4 DocumentReference (US Core clinical-note shape) holding the transcript as text/plain."""
    kind = NOTE_TYPES[note_type]
    code, display = kind.loinc_code, kind.loinc_display
    when = (record.finished_at or record.created_at).isoformat().replace("+00:00", "Z")
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "identifier": [{"system": JOB_IDENTIFIER_SYSTEM, "value": record.id}],
        "status": "current",
        # A machine transcription nobody has signed yet.
        "docStatus": "preliminary",
        "type": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "category": [{"coding": [{"system": US_CORE_CATEGORY, "code": "clinical-note", "display": "Clinical Note"}]}],
        "date": when,
        "description": f"Machine transcription of dictated {note_type} report (EndoScribe, model {record.model})",
        "content": [{
            "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "language": transcript.language,
                "data": base64.b64encode(transcript.text.encode()).decode(),
                "creation": when,
            },
        }],
    }
    if patient_reference:
        document["subject"] = {"reference": patient_reference}
    if encounter_reference:
        document["context"] = {"encounter": [{"reference": encounter_reference}]}
    return document
