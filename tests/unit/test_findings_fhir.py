"""The fhir-report Bundle: a valid FHIR transaction of the note, its report and one Observation per finding."""

from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from core.jobs import JobRecord, JobStatus, Segment, Transcript
from findings.extraction import extract
from findings.fhir import fhir_report_bundle
from webhooks.payloads import fhir_document_reference

FINISHED = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)
RECORD = JobRecord(id="3f0c6a1e-0000-4000-8000-000000000001", status=JobStatus.COMPLETED,
                   created_at=FINISHED, finished_at=FINISHED, model="tiny.en (bundled)")
TEXT = ("Screening colonoscopy. The colonoscope was advanced to the cecum. BBPS 3, 3, 2. "
        "A 6 mm sessile polyp in the cecum was removed with a cold snare. Withdrawal time was 8 minutes.")
TRANSCRIPT = Transcript(text=TEXT, language="en", duration=12.0, segments=[Segment(start=0, end=12, text=TEXT)])


def _bundle() -> dict[str, Any]:
    findings = extract("colonoscopy", TEXT, TRANSCRIPT.segments)
    return fhir_report_bundle(RECORD, TRANSCRIPT, "colonoscopy", findings, "Patient/p1", "Encounter/e1")


def test_the_bundle_validates_as_a_fhir_transaction() -> None:
    bundle = Bundle.model_validate(_bundle())
    assert bundle.type == "transaction"
    kinds = [e.resource.get_resource_type() for e in bundle.entry]  # type: ignore[union-attr]
    # indication, extent, cecal intubation, 3 BBPS segments, the polyp, withdrawal
    assert kinds == ["DocumentReference", "DiagnosticReport", *["Observation"] * 8]
    assert all(e.request.method == "POST" and e.request.ifNoneExist for e in bundle.entry)  # type: ignore[union-attr]


def test_the_document_reference_is_the_fhir_callbacks_own() -> None:
    document = _bundle()["entry"][0]["resource"]
    assert document == fhir_document_reference(RECORD, TRANSCRIPT, "colonoscopy", "Patient/p1", "Encounter/e1")


def test_the_report_lists_every_observation_and_each_points_at_the_document() -> None:
    entries = _bundle()["entry"]
    document_url, report = entries[0]["fullUrl"], entries[1]["resource"]
    observations = [e for e in entries if e["resource"]["resourceType"] == "Observation"]
    assert report["code"]["coding"][0] == {"system": "http://loinc.org", "code": "18746-8",
                                           "display": "Colonoscopy study"}
    assert [r["reference"] for r in report["result"]] == [o["fullUrl"] for o in observations]
    assert all(o["resource"]["derivedFrom"] == [{"reference": document_url}] for o in observations)
    assert all(o["resource"]["subject"] == {"reference": "Patient/p1"} for o in observations)


def test_a_measured_finding_is_a_ucum_quantity_with_its_source() -> None:
    entries = _bundle()["entry"]
    withdrawal = next(e["resource"] for e in entries
                      if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "withdrawal-time")
    assert withdrawal["code"]["coding"][0]["system"] == "https://endoscribe.dev/fhir/CodeSystem/finding"
    assert withdrawal["valueQuantity"] == {"value": 8.0, "unit": "min", "system": "http://unitsofmeasure.org",
                                           "code": "min"}
    source = {x["url"]: next(v for k, v in x.items() if k.startswith("value"))
              for x in withdrawal["extension"][0]["extension"]}
    assert TEXT[source["start"]:source["end"]] == "8 minutes"
    assert (source["audioStart"], source["audioEnd"]) == (0, 12)


def test_a_polyp_is_one_observation_with_its_attributes_as_components() -> None:
    entries = _bundle()["entry"]
    polyp = next(e["resource"] for e in entries
                 if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "polyp")
    components = {c["code"]["coding"][0]["code"]: c for c in polyp["component"]}
    assert set(components) == {"location", "size", "morphology", "removal-method"}
    assert components["size"]["valueQuantity"]["value"] == 6.0
    assert components["location"]["valueCodeableConcept"]["text"] == "cecum"


def test_the_same_job_gives_the_same_ids_so_a_redelivery_creates_nothing_twice() -> None:
    assert [e["fullUrl"] for e in _bundle()["entry"]] == [e["fullUrl"] for e in _bundle()["entry"]]


def test_a_note_without_findings_still_gives_a_valid_bundle() -> None:
    bundle = fhir_report_bundle(RECORD, TRANSCRIPT, "procedure", None)
    Bundle.model_validate(bundle)
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DocumentReference", "DiagnosticReport"]


def test_the_fhir_report_callback_format_is_the_bundle_of_the_stored_findings() -> None:
    import json

    from core.jobs import JobOptions
    from core.webhook_records import WebhookConfig
    from webhooks.formats import CALLBACK_FORMATS, CallbackEvent, build_callback_body
    from worker.text.findings_reading import read_findings

    stored = read_findings(TRANSCRIPT, JobOptions(note_type="colonoscopy"))
    config = WebhookConfig(url="https://ehr.example.org/fhir", format="fhir-report", note_type="colonoscopy",
                           patient_reference="Patient/p1", encounter_reference="Encounter/e1")
    event = CallbackEvent(RECORD, config, "job.completed", FINISHED, stored)
    body, media_type = build_callback_body(CALLBACK_FORMATS["fhir-report"], event)
    assert media_type == "application/fhir+json"
    assert json.loads(body) == _bundle()
    Bundle.model_validate_json(body)
