"""A note's changes reach the job's callback target as events, one at a time and in order, each as the
note stood right after its change: signed, on the retry schedule, recorded. The stores and the
deliverer's attempts run in this process on a real redis-server, against a real HTTP receiver and a
real MLLP listener on loopback."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import hl7
import pytest
import redis
from standardwebhooks.webhooks import Webhook

from core.document_store import DocumentStore
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus, Segment, Transcript
from core.settings import WebhookSettings
from core.webhook_records import NoteEvent, WebhookConfig, WebhookRecord
from core.webhook_store import WebhookStore
from tests.integration.mllp_listener import Listener
from tests.receiver import Receiver, Reply
from tests.services import TEST_WEBHOOK_SECRET
from webhooks.delivery import Deliverer, attempt_delivery
from webhooks.hl7_messages import control_id_for

TENANT = "tenant-1"
TEXT = "Cecum reached.\nPolyp 5 mm removed."
CORRECTED = "Cecum reached.\nPolyp 6 mm removed."
AMENDED = "Cecum reached.\nPolyp 6 mm removed.\nPathology: adenoma."
# A generous attempt deadline: a loaded test machine must not turn a delivery into a retry.
HOOKS = WebhookSettings(secret=TEST_WEBHOOK_SECRET, allow_private=True, allow_http=True, retry_base_seconds=0.05,
                        timeout_seconds=10)


def loopback(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]


@pytest.fixture()
def deliverer(clean_redis: redis.Redis) -> Deliverer:
    return Deliverer(JobStore(clean_redis, 3600), WebhookStore(clean_redis, 3600), HOOKS, resolver=loopback)


@pytest.fixture()
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def completed_job(d: Deliverer, url: str | None, fmt: str = "fhir", status: JobStatus = JobStatus.COMPLETED) -> str:
    """A job of TENANT, ended with `status` as a worker would end it, calling back `url` in `fmt`."""
    job_id = str(uuid.uuid4())
    callback = None if url is None else WebhookConfig(
        url=url, format=fmt, note_type="colonoscopy", patient_reference="Patient/123",
        encounter_reference="Encounter/E9", status_url=f"https://api.example.org/v1/jobs/{job_id}",
        result_url=f"https://api.example.org/v1/jobs/{job_id}/result")
    d.jobs.create(JobRecord(id=job_id, tenant=TENANT, created_at=utcnow()), callback)
    d.jobs.claim(job_id, "run", "worker-1", 60, 3)
    transcript = Transcript(text=TEXT, language="en", duration=3.0, segments=[Segment(start=0, end=3, text=TEXT)])
    assert d.jobs.end(job_id, "run", status, transcript if status is JobStatus.COMPLETED else None)
    return job_id


def review(d: Deliverer, job_id: str) -> None:
    """Correct, sign and amend the note, as a reviewer and then the clinician do."""
    documents = DocumentStore(d.jobs.redis)
    documents.correct(job_id, CORRECTED, TENANT, "Practitioner/77", base_version=1, reason="size misheard")
    documents.sign(job_id, TENANT, "Practitioner/77", base_version=2)
    documents.amend(job_id, AMENDED, TENANT, "Practitioner/77", base_version=2, reason="pathology addendum")


def hook(d: Deliverer, job_id: str) -> WebhookRecord:
    record = d.webhooks.get(job_id)
    assert record is not None
    return record


def deliver_due(d: Deliverer, job_id: str, timeout: float = 10) -> list[str]:
    """Attempt the job's callback each time it comes due, until nothing is sent or queued any more."""
    results: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = hook(d, job_id)
        if record.status in {"delivered", "failed"} and not record.queued:
            return results
        if d.webhooks.claim([job_id], time.time(), time.time() + 30):
            results.append(attempt_delivery(d, job_id, TENANT))
        else:
            time.sleep(0.02)  # a retry's backoff
    raise AssertionError(f"still sending after {timeout} s: {results}, {hook(d, job_id).attempts}")


def verified(request: Any) -> Any:
    return Webhook(TEST_WEBHOOK_SECRET).verify(request.body, request.headers)


def test_changes_made_before_the_first_delivery_follow_it_in_order_each_as_it_stood(deliverer: Deliverer) -> None:
    with Receiver() as receiver:
        job_id = completed_job(deliverer, receiver.url)
        review(deliverer, job_id)
        queued = hook(deliverer, job_id)
        assert (queued.event, queued.status) == ("job.completed", "pending")
        assert queued.queued == [NoteEvent(action="corrected", version=2), NoteEvent(action="signed", version=2),
                                 NoteEvent(action="amended", version=3)]

        assert deliver_due(deliverer, job_id) == ["delivered"] * 4
        requests = receiver.requests

    resources = [verified(r) for r in requests]
    assert [r["docStatus"] for r in resources] == ["preliminary", "preliminary", "final", "amended"]
    # The correction went out after the signature was given, but says what it was: unsigned.
    assert "authenticator" not in resources[1] and resources[2]["authenticator"] == {"reference": "Practitioner/77"}
    assert [r["identifier"][1:] for r in resources] == [[]] + [
        [{"system": "urn:endoscribe:note-version", "value": f"{job_id}-{n}"}] for n in (2, 2, 3)]
    assert [base64.b64decode(r["content"][0]["attachment"]["data"]).decode() for r in resources] == [
        TEXT, CORRECTED, CORRECTED, AMENDED]
    assert "relatesTo" not in resources[2]
    assert resources[3]["relatesTo"] == [{"code": "replaces", "target": {"identifier": {
        "system": "urn:endoscribe:note-version", "value": f"{job_id}-2"}}}]
    base = f"msg_{job_id.replace('-', '')}"
    assert [r.headers["webhook-id"] for r in requests] == [
        base, f"{base}_corrected_v2", f"{base}_signed_v2", f"{base}_amended_v3"]
    done = hook(deliverer, job_id)
    assert (done.status, done.event, done.queued, done.undelivered) == ("delivered", "document.amended", [], [])
    assert [a.event for a in done.attempts] == [
        "job.completed", "document.corrected v2", "document.signed v2", "document.amended v3"]


def test_a_change_after_the_last_delivery_goes_at_once_in_the_thin_envelope(deliverer: Deliverer) -> None:
    with Receiver() as receiver:
        job_id = completed_job(deliverer, receiver.url, fmt="thin")
        assert deliver_due(deliverer, job_id) == ["delivered"]
        DocumentStore(deliverer.jobs.redis).sign(job_id, TENANT, "Practitioner/9")
        signed = hook(deliverer, job_id)
        assert (signed.event, signed.status, signed.queued) == ("document.signed", "pending", [])
        assert deliver_due(deliverer, job_id) == ["delivered"]
        first, second = receiver.requests

    assert verified(first)["type"] == "job.completed"
    payload = verified(second)
    signature = payload["data"]["document"]["signature"]
    assert payload == {
        "type": "document.signed", "timestamp": signature["at"],
        "data": {
            "id": job_id, "status": "completed", "status_url": f"https://api.example.org/v1/jobs/{job_id}",
            "result_url": f"https://api.example.org/v1/jobs/{job_id}/result",
            "document_url": f"https://api.example.org/v1/jobs/{job_id}/document",
            "document": {"version": 1, "kind": "transcript", "status": "final", "author": "endoscribe",
                         "at": payload["data"]["document"]["at"], "replaces": None, "reason": None,
                         "signature": {"author": "Practitioner/9", "at": signature["at"]}},
        },
    }
    assert TEXT.split()[1] not in second.body.decode()  # thin: ids and links, never the text


def test_an_event_given_up_on_is_recorded_apart_and_the_next_one_still_goes(deliverer: Deliverer) -> None:
    with Receiver([Reply(400)]) as receiver:
        job_id = completed_job(deliverer, receiver.url, fmt="full")
        DocumentStore(deliverer.jobs.redis).correct(job_id, CORRECTED, TENANT, "Practitioner/77")
        assert deliver_due(deliverer, job_id) == ["failed", "delivered"]
        _, correction = receiver.requests

    payload = verified(correction)
    assert (payload["type"], payload["data"]["document"]["text"]) == ("document.corrected", CORRECTED)
    record = hook(deliverer, job_id)
    assert (record.status, record.undelivered) == ("delivered", ["job.completed"])
    assert [(a.event, a.status_code) for a in record.attempts] == [("job.completed", 400),
                                                                   ("document.corrected v2", 200)]


def test_a_retried_event_holds_back_the_ones_after_it(deliverer: Deliverer) -> None:
    with Receiver([Reply(503), Reply(503)]) as receiver:
        job_id = completed_job(deliverer, receiver.url)
        DocumentStore(deliverer.jobs.redis).sign(job_id, TENANT, "Practitioner/9")
        assert deliver_due(deliverer, job_id) == ["retrying", "retrying", "delivered", "delivered"]
        statuses = [(r.headers["webhook-id"][-9:], json.loads(r.body)["docStatus"]) for r in receiver.requests]
    base = job_id.replace("-", "")[-9:]
    assert statuses == [(base, "preliminary")] * 3 + [("signed_v1", "final")]


def test_a_note_change_of_a_job_without_callback_schedules_nothing(deliverer: Deliverer,
                                                                    clean_redis: redis.Redis) -> None:
    job_id = completed_job(deliverer, None)
    review(deliverer, job_id)
    assert deliverer.webhooks.get(job_id) is None
    assert deliverer.webhooks.due(time.time() + 1, 10) == []


def mdm(message: hl7.Message) -> tuple[str, str, str, str]:
    txa = message.segment("TXA")
    return str(message.segment("MSH")(9)(1)(2)), str(txa(16)), str(txa(17)), str(message.segment("MSH")(10))


def test_an_mllp_target_gets_t02_t08_t02_t10_in_order_and_an_ae_is_sent_again(
    deliverer: Deliverer, listener: Listener,
) -> None:
    listener.mode = "AE"
    job_id = completed_job(deliverer, f"mllp://hl7.example.org:{listener.port}", fmt="hl7v2")
    review(deliverer, job_id)
    assert deliverer.webhooks.claim([job_id], time.time(), time.time() + 30)
    assert attempt_delivery(deliverer, job_id, TENANT) == "retrying"
    listener.mode = "AA"
    assert deliver_due(deliverer, job_id) == ["delivered"] * 4

    base = f"msg_{job_id.replace('-', '')}"
    ids = [control_id_for(m) for m in (base, base, f"{base}_corrected_v2", f"{base}_signed_v2", f"{base}_amended_v3")]
    assert [mdm(m) for m in listener.received] == [
        ("T02", f"{job_id}-1", "DO", ids[0]), ("T02", f"{job_id}-1", "DO", ids[1]),
        ("T08", f"{job_id}-2", "DO", ids[2]), ("T02", f"{job_id}-2", "LA", ids[3]),
        ("T10", f"{job_id}-3", "LA", ids[4])]
    record = hook(deliverer, job_id)
    assert [(a.event, a.code, a.error) for a in record.attempts] == [
        ("job.completed", "hl7_application_error", "HL7 AE (application error)"),
        ("job.completed", "hl7_accepted", None), ("document.corrected v2", "hl7_accepted", None),
        ("document.signed v2", "hl7_accepted", None), ("document.amended v3", "hl7_accepted", None)]
    assert record.status == "delivered" and record.undelivered == []


def test_an_mllp_target_addresses_every_message_as_its_url_query_says(deliverer: Deliverer, listener: Listener) -> None:
    target = (f"mllp://hl7.example.org:{listener.port}/?receiving_application=EPIC&receiving_facility=GI%20LAB"
              "&sending_facility=ENDO&processing_id=T")
    job_id = completed_job(deliverer, target, fmt="hl7v2")

    assert deliver_due(deliverer, job_id) == ["delivered"]

    [message] = listener.received
    msh = message.segment("MSH")
    assert [str(msh(n)) for n in (3, 4, 5, 6, 11)] == ["EndoScribe", "ENDO", "EPIC", "GI LAB", "T"]


def test_an_mllp_rejection_stops_that_message_and_the_next_one_goes(deliverer: Deliverer, listener: Listener) -> None:
    listener.mode = "AR"
    job_id = completed_job(deliverer, f"mllp://hl7.example.org:{listener.port}", fmt="hl7v2")
    DocumentStore(deliverer.jobs.redis).sign(job_id, TENANT, "Practitioner/9")
    assert deliverer.webhooks.claim([job_id], time.time(), time.time() + 30)
    assert attempt_delivery(deliverer, job_id, TENANT) == "failed"
    listener.mode = "AA"
    assert deliver_due(deliverer, job_id) == ["delivered"]

    assert [mdm(m)[:3] for m in listener.received] == [("T02", f"{job_id}-1", "DO"), ("T02", f"{job_id}-1", "LA")]
    record = hook(deliverer, job_id)
    assert (record.status, record.undelivered) == ("delivered", ["job.completed"])
    assert [a.code for a in record.attempts] == ["hl7_rejected", "hl7_accepted"]


def test_an_mllp_target_of_a_failed_job_is_sent_nothing(deliverer: Deliverer, listener: Listener) -> None:
    job_id = completed_job(deliverer, f"mllp://hl7.example.org:{listener.port}", fmt="hl7v2",
                           status=JobStatus.FAILED)
    assert deliver_due(deliverer, job_id) == ["failed"]
    [attempt] = hook(deliverer, job_id).attempts
    assert attempt.error == "the job ended failed: there is no note to send as HL7 MDM"
    assert listener.received == []


def test_an_mllp_message_without_an_ack_is_sent_again_with_the_same_control_id(
    deliverer: Deliverer, listener: Listener,
) -> None:
    listener.mode = "close"
    job_id = completed_job(deliverer, f"mllp://hl7.example.org:{listener.port}", fmt="hl7v2")
    assert deliverer.webhooks.claim([job_id], time.time(), time.time() + 30)
    assert attempt_delivery(deliverer, job_id, TENANT) == "retrying"
    listener.mode = "AA"
    assert deliver_due(deliverer, job_id) == ["delivered"]

    first, second = (mdm(m) for m in listener.received)
    assert first == second and first[0] == "T02"
    assert [a.code for a in hook(deliverer, job_id).attempts] == ["mllp_no_ack", "hl7_accepted"]


def test_a_redelivery_sends_the_latest_event_again_with_its_own_webhook_id(deliverer: Deliverer) -> None:
    with Receiver() as receiver:
        job_id = completed_job(deliverer, receiver.url)
        DocumentStore(deliverer.jobs.redis).sign(job_id, TENANT, "Practitioner/9")
        assert deliver_due(deliverer, job_id) == ["delivered"] * 2
        assert deliverer.webhooks.redeliver(job_id, "job.completed") is not None
        assert deliver_due(deliverer, job_id) == ["delivered"]
        ids = [r.headers["webhook-id"] for r in receiver.requests]
        statuses = [verified(r)["docStatus"] for r in receiver.requests]
    base = f"msg_{job_id.replace('-', '')}"
    assert ids == [base, f"{base}_signed_v1", f"{base}_signed_v1"]
    assert statuses == ["preliminary", "final", "final"]
