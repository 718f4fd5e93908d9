"""Payload shapes, signing compatibility with the standardwebhooks library, and the retry schedule."""

import base64
from datetime import UTC, datetime

import httpx
from fhir.resources.R4B.documentreference import DocumentReference
from standardwebhooks.webhooks import Webhook

from core.documents import MACHINE_AUTHOR, Document, DocumentVersion, Signature, VersionKind
from core.jobs import JobRecord, JobStatus, Segment, Transcript
from core.note_types import NOTE_TYPES
from webhooks.delivery import backoff_seconds, retry_after_seconds
from webhooks.payloads import envelope, fhir_document_reference, fhir_note_reference, thin_data

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FINISHED = datetime(2026, 11, 24, 9, 30, 5, tzinfo=UTC)
RECORD = JobRecord(id="3f0c6a1e-0000-4000-8000-000000000001", status=JobStatus.COMPLETED,
                   created_at=FINISHED, finished_at=FINISHED, model="tiny.en (bundled)")
TRANSCRIPT = Transcript(text="Cecal intubation confirmed. Ünïcode survives.", language="en", duration=4.0,
                        segments=[Segment(start=0, end=4, text="Cecal intubation confirmed. Ünïcode survives.")])


def test_thin_payload_has_links_and_no_text() -> None:
    payload = envelope("job.completed", FINISHED, thin_data(RECORD, "https://h/v1/jobs/x", "https://h/v1/jobs/x/result"))
    assert payload == {
        "type": "job.completed",
        "timestamp": "2026-11-24T09:30:05Z",
        "data": {"id": RECORD.id, "status": "completed", "status_url": "https://h/v1/jobs/x",
                 "result_url": "https://h/v1/jobs/x/result"},
    }


def test_our_signature_verifies_with_the_standardwebhooks_library() -> None:
    body = '{"type":"job.completed","data":{"id":"x"}}'
    signature = Webhook(SECRET).sign("msg_1", FINISHED, body)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(FINISHED.timestamp())),
               "webhook-signature": signature}
    verifier = Webhook(SECRET)
    # Verification checks the timestamp against "now"; compare with the raw HMAC instead of waiting.
    assert signature.startswith("v1,")
    import hashlib
    import hmac

    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = hmac.new(key, f"msg_1.{headers['webhook-timestamp']}.{body}".encode(), hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(expected).decode()
    now = datetime.now(UTC)
    fresh = Webhook(SECRET).sign("msg_1", now, body)
    assert verifier.verify(body, {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
                                  "webhook-signature": fresh}) == {"type": "job.completed", "data": {"id": "x"}}


def test_each_note_type_makes_a_valid_fhir_document_reference() -> None:
    for note_type, kind in NOTE_TYPES.items():
        code = kind.loinc_code
        resource = fhir_document_reference(RECORD, TRANSCRIPT, note_type, "Patient/p1", None)
        document = DocumentReference.model_validate(resource)
        assert document.type.coding[0].code == code
        assert document.content[0].attachment.data.decode() == TRANSCRIPT.text
        assert "context" not in resource and resource["subject"] == {"reference": "Patient/p1"}


def test_backoff_doubles_with_bounded_jitter() -> None:
    delays = [backoff_seconds(5, n) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        assert 5 * 2 ** (n - 1) <= delay <= 5 * 2 ** (n - 1) * 1.5
    assert backoff_seconds(5, 30) == 3600


def test_retry_after_accepts_seconds_and_dates_and_ignores_junk() -> None:
    assert retry_after_seconds(httpx.Headers({"retry-after": "120"})) == 120
    later = httpx.Headers({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert (retry_after_seconds(later) or 0) > 10**8
    assert retry_after_seconds(httpx.Headers()) is None
    for junk in ("soon", "\u00b2", "1e9", "-5", "99999999999999999999"):
        assert retry_after_seconds(httpx.Headers({"retry-after": junk.encode("latin-1")})) is None, junk


def test_a_malformed_signing_secret_is_refused_at_start_up() -> None:
    import pytest
    from pydantic import ValidationError

    from core.settings import WebhookSettings

    for bad in ("not-base64!!", "whsec_c2hvcnQ="):
        with pytest.raises(ValidationError, match="ENDOSCRIBE_WEBHOOK_SECRET"):
            WebhookSettings(secret=bad)
    assert WebhookSettings(secret=SECRET).secret == SECRET


def test_each_version_of_a_note_is_a_document_reference_with_its_status_and_what_it_replaces() -> None:
    later = FINISHED.replace(minute=45)
    signature = Signature(tenant="t", author="Practitioner/77", at=later)
    first = DocumentVersion(version=1, kind=VersionKind.TRANSCRIPT, text=TRANSCRIPT.text, tenant="t",
                            author=MACHINE_AUTHOR, at=FINISHED)
    corrected = DocumentVersion(version=2, kind=VersionKind.CORRECTION, text="Cecal intubation confirmed.",
                                tenant="t", author="Dr. Lee", at=FINISHED.replace(minute=40), signature=signature)
    amended = DocumentVersion(version=3, kind=VersionKind.AMENDMENT, text="Cecal intubation photographed.",
                              tenant="t", author="Practitioner/77", at=later, replaces=2, signature=signature)
    document = Document(job_id=RECORD.id, versions=[first, corrected, amended], audit=[])

    resources = [fhir_note_reference(RECORD, document, n, "en", "colonoscopy", "Patient/p1", "Encounter/e1")
                 for n in (1, 2, 3)]

    for resource in resources:
        DocumentReference.model_validate(resource)
    assert [r["docStatus"] for r in resources] == ["preliminary", "final", "amended"]
    assert [r["identifier"][1]["value"] for r in resources] == [f"{RECORD.id}-{n}" for n in (1, 2, 3)]
    assert [r.get("author") for r in resources] == [None, [{"display": "Dr. Lee"}], [{"reference": "Practitioner/77"}]]
    assert [r.get("authenticator") for r in resources] == [
        None, {"reference": "Practitioner/77"}, {"reference": "Practitioner/77"}]
    assert [r["date"] for r in resources] == ["2026-11-24T09:30:05Z", "2026-11-24T09:45:05Z", "2026-11-24T09:45:05Z"]
    assert "relatesTo" not in resources[0] and "relatesTo" not in resources[1]
    assert resources[2]["relatesTo"] == [{"code": "replaces", "target": {"identifier": {
        "system": "urn:endoscribe:note-version", "value": f"{RECORD.id}-2"}}}]
    assert base64.b64decode(resources[2]["content"][0]["attachment"]["data"]).decode() == amended.text
    assert resources[2]["subject"] == {"reference": "Patient/p1"}
    assert resources[2]["context"] == {"encounter": [{"reference": "Encounter/e1"}]}
