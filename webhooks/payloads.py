"""What a callback carries: `thin` (ids and links), `full` (transcript inline) or `fhir` (DocumentReference),
for the job's transcript or for one version of its note (`core.documents`)."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Any

from core.documents import MACHINE_AUTHOR, Document
from core.jobs import JobRecord, Transcript
from core.note_types import NOTE_TYPES

LOINC = "http://loinc.org"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
JOB_IDENTIFIER_SYSTEM = "urn:endoscribe:job"
NOTE_VERSION_SYSTEM = "urn:endoscribe:note-version"
"""Identifies one version of a job's note (`{job id}-{version}`, as HL7 TXA-16 does)."""
_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def thin_data(record: JobRecord, status_url: str, result_url: str) -> dict[str, Any]:
    data: dict[str, Any] = {"id": record.id, "status": record.status.value, "status_url": status_url}
    if record.status.value == "completed":
        data["result_url"] = result_url
    if record.error is not None:
        data["error"] = record.error.model_dump()
    return data


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def note_data(record: JobRecord, document: Document, version: int, status_url: str, result_url: str,
              text: bool = False) -> dict[str, Any]:
    """The thin data of a note change's event: the job's ids and links, the note's link, and the
    version the change made (its text too when `text`)."""
    note = document.versions[version - 1]
    data = thin_data(record, status_url, result_url)
    data["document_url"] = f"{status_url}/document" if status_url else ""
    summary: dict[str, Any] = {
        "version": note.version, "kind": note.kind.value, "status": note.status.value, "author": note.author,
        "at": _iso(note.at), "replaces": note.replaces, "reason": note.reason,
        "signature": None if note.signature is None else {
            "author": note.signature.author, "at": _iso(note.signature.at)},
    }
    if text:
        summary["text"] = note.text
    data["document"] = summary
    return data


def fhir_note_bundle(resource: dict[str, Any]) -> dict[str, Any]:
    """A transaction Bundle creating one version's DocumentReference once (conditional on its version
    identifier, so a redelivery creates nothing new)."""
    system, value = resource["identifier"][-1]["system"], resource["identifier"][-1]["value"]
    return {"resourceType": "Bundle", "type": "transaction", "entry": [{
        "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system}:{value}')}",
        "resource": resource,
        "request": {"method": "POST", "url": "DocumentReference", "ifNoneExist": f"identifier={system}|{value}"},
    }]}


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
    return _document_reference(record, transcript.text, transcript.language, note_type, patient_reference,
                               encounter_reference)


def _document_reference(record: JobRecord, text: str, language: str, note_type: str, patient_reference: str | None,
                        encounter_reference: str | None) -> dict[str, Any]:
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
                "language": language,
                "data": base64.b64encode(text.encode()).decode(),
                "creation": when,
            },
        }],
    }
    if patient_reference:
        document["subject"] = {"reference": patient_reference}
    if encounter_reference:
        document["context"] = {"encounter": [{"reference": encounter_reference}]}
    return document


def _who(name: str) -> dict[str, str]:
    """A FHIR Reference to a person as the client named them: a reference, or else a display name."""
    return {"reference": name} if _REFERENCE.match(name) else {"display": name}


def note_version_identifier(job_id: str, version: int) -> dict[str, str]:
    return {"system": NOTE_VERSION_SYSTEM, "value": f"{job_id}-{version}"}


def fhir_note_reference(
    record: JobRecord,
    document: Document,
    version: int,
    language: str,
    note_type: str,
    patient_reference: str | None,
    encounter_reference: str | None,
) -> dict[str, Any]:
    """The DocumentReference of one version of a job's note: `docStatus` preliminary (unsigned), final
    (signed) or amended, its author and authenticator, and for an amendment `relatesTo` replaces the
    signed version (by its version identifier: the receiver holds it under its own resource id)."""
    note = document.versions[version - 1]
    resource = _document_reference(record, note.text, language, note_type, patient_reference, encounter_reference)
    resource["identifier"].append(note_version_identifier(document.job_id, version))
    resource["docStatus"] = note.status.value
    made = note.at.isoformat().replace("+00:00", "Z")
    resource["content"][0]["attachment"]["creation"] = made
    # The date of the version as the EHR files it: its signature's once signed.
    resource["date"] = note.signature.at.isoformat().replace("+00:00", "Z") if note.signature is not None else made
    if note.author is not None and note.author != MACHINE_AUTHOR:
        resource["author"] = [_who(note.author)]
        resource["description"] = f"Dictated {note_type} report, version {version} (EndoScribe transcription, reviewed)"
    if note.signature is not None and note.signature.author is not None:
        resource["authenticator"] = _who(note.signature.author)
    if note.replaces is not None:
        resource["relatesTo"] = [{"code": "replaces",
                                  "target": {"identifier": note_version_identifier(document.job_id, note.replaces)}}]
    return resource
