"""The `fhir-report` callback body: a FHIR R4 transaction Bundle of the note and its findings.

The Bundle holds the DocumentReference every `fhir` callback carries (built by webhooks.payloads, so
the two stay one shape), a DiagnosticReport for the procedure (LOINC report type, `preliminary`: a
machine reading nobody has signed), and one Observation per finding stated in the note. Observation
codes come from findings/data/fhir_codes.json; each Observation points back at the DocumentReference
(`derivedFrom`) and carries the characters and audio seconds it was read from in an extension.
Resource ids are UUIDs derived from the job id, so a redelivered Bundle creates nothing twice
(`ifNoneExist` on the identifier).
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from core.jobs import JobRecord, Transcript
from core.note_types import NOTE_TYPES
from findings.models import FindingsModel, Stated
from webhooks.payloads import JOB_IDENTIFIER_SYSTEM, LOINC, fhir_document_reference

UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SOURCE_EXTENSION = "https://endoscribe.dev/fhir/StructureDefinition/finding-source"
ITEMS = {"polyps", "ulcers", "stents", "sedation"}
UNIT_DISPLAY = {"mm": "mm", "cm": "cm", "min": "min", "mg": "mg", "ug": "ug", "[Fr]": "Fr", "a": "years",
                "mo": "months"}


@lru_cache(maxsize=1)
def _codes() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "fhir_codes.json").read_text())
    return data


def _code(field: str) -> dict[str, Any]:
    code, display, _source = _codes()["codes"][field]
    return {"coding": [{"system": _codes()["system"], "code": code, "display": display}], "text": display}


def _value(stated: Stated[Any]) -> dict[str, Any]:
    value = stated.value
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int | float):
        quantity: dict[str, Any] = {"value": value}
        if stated.unit:
            quantity |= {"unit": UNIT_DISPLAY.get(stated.unit, stated.unit), "system": UCUM, "code": stated.unit}
        return {"valueQuantity": quantity}
    slug = str(value).lower().replace(" ", "-").replace("'", "")
    return {"valueCodeableConcept": {"coding": [{"system": _codes()["value_system"], "code": slug}],
                                     "text": str(value)}}


def _source(*stated: Stated[Any]) -> dict[str, Any]:
    """Where in the text (characters) and in the audio (seconds) the finding was said."""
    parts: list[dict[str, Any]] = [{"url": "start", "valueInteger": min(s.start for s in stated)},
                                   {"url": "end", "valueInteger": max(s.end for s in stated)}]
    starts = [s.audio_start for s in stated if s.audio_start is not None]
    ends = [s.audio_end for s in stated if s.audio_end is not None]
    if starts and ends:
        parts += [{"url": "audioStart", "valueDecimal": min(starts)}, {"url": "audioEnd", "valueDecimal": max(ends)}]
    return {"url": SOURCE_EXTENSION, "extension": parts}


def observations(findings: FindingsModel) -> list[tuple[str, dict[str, Any]]]:
    """(field, Observation body without subject, links or ids) for each finding stated."""
    out: list[tuple[str, dict[str, Any]]] = []
    for field in type(findings).model_fields:
        value = getattr(findings, field)
        if field == "kind" or value is None or value == []:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Stated):
                out.append((field, {"code": _code(field), **_value(item), "extension": [_source(item)]}))
            else:
                out.append((field, _item(field, item)))
    return out


def _item(field: str, item: BaseModel) -> dict[str, Any]:
    """A polyp, ulcer, stent or sedation agent: one Observation, its attributes as components."""
    parts = {name: v for name, v in item if isinstance(v, Stated)}
    components = [{"code": _code(name), **_value(v)} for name, v in parts.items()]
    body: dict[str, Any] = {"code": _code(field), "component": components}
    if parts:
        body["extension"] = [_source(*parts.values())]
    return body


def _uuid(job_id: str, role: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{JOB_IDENTIFIER_SYSTEM}:{job_id}/{role}')}"


def _entry(full_url: str, resource: dict[str, Any], identifier: str) -> dict[str, Any]:
    request = {"method": "POST", "url": resource["resourceType"],
               "ifNoneExist": f"identifier={JOB_IDENTIFIER_SYSTEM}|{identifier}"}
    return {"fullUrl": full_url, "resource": resource, "request": request}


def fhir_report_bundle(
    record: JobRecord,
    transcript: Transcript,
    note_type: str,
    findings: FindingsModel | None,
    patient_reference: str | None = None,
    encounter_reference: str | None = None,
) -> dict[str, Any]:
    """The transaction Bundle: DocumentReference, DiagnosticReport, and an Observation per finding."""
    when = (record.finished_at or record.created_at).isoformat().replace("+00:00", "Z")
    document = fhir_document_reference(record, transcript, note_type, patient_reference, encounter_reference)
    document_url = _uuid(record.id, "document")
    context: dict[str, Any] = {}
    if patient_reference:
        context["subject"] = {"reference": patient_reference}
    if encounter_reference:
        context["encounter"] = {"reference": encounter_reference}
    entries = [_entry(document_url, document, record.id)]
    results = []
    for n, (field, body) in enumerate(observations(findings) if findings else []):
        url = _uuid(record.id, f"observation/{n}")
        identifier = f"{record.id}/{field}/{n}"
        observation = {
            "resourceType": "Observation",
            "identifier": [{"system": JOB_IDENTIFIER_SYSTEM, "value": identifier}],
            "status": "preliminary",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "procedure", "display": "Procedure"}]}],
            **body, **context, "effectiveDateTime": when,
            "derivedFrom": [{"reference": document_url}],
        }
        entries.append(_entry(url, observation, identifier))
        results.append({"reference": url})
    code, display = NOTE_TYPES[note_type].loinc_code, NOTE_TYPES[note_type].loinc_display
    report = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": JOB_IDENTIFIER_SYSTEM, "value": f"{record.id}/report"}],
        "status": "preliminary",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        **context, "effectiveDateTime": when, "issued": when,
        "result": results,
        "presentedForm": [{"contentType": "text/plain; charset=utf-8", "url": document_url, "title": display}],
    }
    if not results:
        del report["result"]
    entries.insert(1, _entry(_uuid(record.id, "report"), report, f"{record.id}/report"))
    return {"resourceType": "Bundle", "type": "transaction", "timestamp": when, "entry": entries}
