"""Findings as a user gets them, with the real API, worker (bundled model) and deliverer: the
`format=findings` result, and the `fhir-report` callback, signed like every callback, whose Bundle
validates with fhir.resources."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.bundle import Bundle
from standardwebhooks.webhooks import Webhook

from tests.jobs import FIXTURES, submit, wait_for_status
from tests.receiver import Receiver
from tests.services import TEST_WEBHOOK_SECRET, Process

AUDIO = FIXTURES / "colonoscopy.wav"  # "... A five millimeter polyp was found in the sigmoid colon ..."


def test_a_colonoscopy_job_answers_format_findings_and_calls_back_a_signed_fhir_report(
    client: httpx.Client, deliverer: Process,
) -> None:
    with Receiver() as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url, callback_format="fhir-report",
                        note_type="colonoscopy", patient_reference="Patient/123")["id"]
        [request] = receiver.wait_for(1)
    assert request.headers["content-type"] == "application/fhir+json"
    bundle = Bundle.model_validate(Webhook(TEST_WEBHOOK_SECRET).verify(request.body, request.headers))

    found = client.get(f"/v1/jobs/{job_id}/result", params={"format": "findings"})
    assert found.status_code == 200 and found.headers["content-type"] == "application/json"
    body = found.json()
    assert body["note_type"] == "colonoscopy" and body["findings"]["kind"] == "colonoscopy"
    text = client.get(f"/v1/jobs/{job_id}/result", params={"format": "txt"}).text
    [polyp] = body["findings"]["polyps"]
    assert text[polyp["location"]["start"]:polyp["location"]["end"]].lower() == "sigmoid colon"
    assert polyp["size_mm"]["value"] == 5.0 and polyp["size_mm"]["audio_start"] is not None

    kinds = [e.resource.get_resource_type() for e in bundle.entry]  # type: ignore[union-attr]
    assert kinds[:2] == ["DocumentReference", "DiagnosticReport"] and "Observation" in kinds
    assert bundle.type == "transaction"
    report = bundle.entry[1].resource  # type: ignore[index]
    assert report.subject.reference == "Patient/123"  # type: ignore[union-attr]
    assert len(report.result) == kinds.count("Observation")  # type: ignore[union-attr]


def test_a_job_whose_note_type_has_no_findings_model_answers_409_findings_unavailable(client: httpx.Client) -> None:
    job_id = submit(client, AUDIO, note_type="endoscopy")["id"]
    assert wait_for_status(client, job_id)["status"] == "completed"
    answer = client.get(f"/v1/jobs/{job_id}/result", params={"format": "findings"})
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "findings_unavailable"
