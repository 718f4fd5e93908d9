"""A note signed, then amended, reaches the EHR end to end: the real API and webhook deliverer processes
on a real redis-server, a FHIR receiver (signed POSTs, docStatus preliminary → final → amended,
relatesTo.replaces) and an MLLP listener (MDM T02, T08, T02, T10, each acknowledged AA). The job is
ended through the job store as a worker ends it, so no model is loaded."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import hl7
import httpx
import pytest
import redis
from fhir.resources.R4B.documentreference import DocumentReference
from standardwebhooks.webhooks import Webhook

from core.job_store import JobStore
from core.jobs import JobStatus, Segment, Transcript
from tests.integration.mllp_listener import Listener
from tests.jobs import FIXTURES, submit
from tests.metrics import scrape, value
from tests.polling import eventually
from tests.receiver import Receiver
from tests.services import TEST_WEBHOOK_SECRET, Process, free_port, start_api, start_deliverer, start_redis

AUDIO = FIXTURES / "summary.ogg"
TEXT = "Cecum reached.\nPolyp 5 mm removed."
CORRECTED = "Cecum reached.\nPolyp 6 mm removed."
AMENDED = "Cecum reached.\nPolyp 6 mm removed.\nPathology: tubular adenoma."


class Stack:
    def __init__(self, redis_url: str, api: httpx.Client, metrics_url: str) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.api = api
        self.metrics_url = metrics_url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("note-delivery")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp)
    port = free_port()
    deliverer: Process = start_deliverer(url, tmp, ENDOSCRIBE_METRICS_PORT=str(port))
    with httpx.Client(base_url=base, timeout=30) as client:
        yield Stack(url, client, f"http://127.0.0.1:{port}/metrics")
    for proc in (deliverer, api_proc, redis_proc):
        proc.stop()


def complete(stack: Stack, job_id: str) -> None:
    """End the job as a worker does: claim it, store its transcript."""
    store = JobStore(stack.redis, 3600)
    store.claim(job_id, "run", "worker-1", 60, 3)
    transcript = Transcript(text=TEXT, language="en", duration=3.0, segments=[Segment(start=0, end=3, text=TEXT)])
    assert store.end(job_id, "run", JobStatus.COMPLETED, transcript)


def review(api: httpx.Client, job_id: str) -> None:
    """Correct, sign, amend: each answered 200, as a reviewing application and a clinician do it."""
    document = f"/v1/jobs/{job_id}/document"
    for path, body in ((document, {"text": CORRECTED, "base_version": 1, "author": "Practitioner/77"}),
                       (f"/v1/jobs/{job_id}/sign", {"base_version": 2, "author": "Practitioner/77"}),
                       (document, {"text": AMENDED, "base_version": 2, "author": "Practitioner/77",
                                   "reason": "pathology addendum"})):
        answer = api.post(path, json=body)
        assert answer.status_code == 200, answer.text


def delivered(api: httpx.Client, job_id: str, event: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> dict[str, Any] | None:
        seen.clear()
        seen.update(api.get(f"/v1/jobs/{job_id}").json()["webhook"])
        return dict(seen) if (seen["event"], seen["status"], seen["events_queued"]) == (event, "delivered", 0) \
            else None

    return eventually(done, 30, lambda: f"{event} delivered (last seen: {seen})")


def test_a_signed_then_amended_note_reaches_a_fhir_receiver_signed_with_each_status(stack: Stack) -> None:
    before = scrape(stack.metrics_url)
    with Receiver() as receiver:
        job_id = submit(stack.api, AUDIO, callback_url=f"{receiver.url}/fhir", callback_format="fhir",
                        note_type="colonoscopy", patient_reference="Patient/123")["id"]
        complete(stack, job_id)
        review(stack.api, job_id)
        hook = delivered(stack.api, job_id, "document.amended v3")
        # One per event, as a receiver keeps them (by webhook-id: a retried one arrives twice).
        requests = list({r.headers["webhook-id"]: r for r in receiver.wait_for(4)}.values())

    resources = [Webhook(TEST_WEBHOOK_SECRET).verify(r.body, r.headers) for r in requests]
    for resource in resources:
        DocumentReference.model_validate(resource)
    assert [r["docStatus"] for r in resources] == ["preliminary", "preliminary", "final", "amended"]
    assert [base64.b64decode(r["content"][0]["attachment"]["data"]).decode() for r in resources] == [
        TEXT, CORRECTED, CORRECTED, AMENDED]
    assert resources[3]["relatesTo"] == [{"code": "replaces", "target": {"identifier": {
        "system": "urn:endoscribe:note-version", "value": f"{job_id}-2"}}}]
    assert [r.get("authenticator") for r in resources] == [None, None] + [{"reference": "Practitioner/77"}] * 2
    assert {r["subject"]["reference"] for r in resources} == {"Patient/123"}
    assert {r.headers["content-type"] for r in requests} == {"application/fhir+json"}
    # (A loaded machine may time an attempt out against the services' 1-s deadline: that one is retried.)
    assert [(a["event"], a["status_code"]) for a in hook["attempts"] if a["error"] is None] == [
        ("job.completed", 200), ("document.corrected v2", 200), ("document.signed v2", 200),
        ("document.amended v3", 200)]
    # Counted by the deliverer like every callback attempt.
    assert value(scrape(stack.metrics_url), "endoscribe_webhook_attempts_total", result="delivered") - value(
        before, "endoscribe_webhook_attempts_total", result="delivered") == 4


def test_a_signed_then_amended_note_reaches_an_mllp_receiver_as_acknowledged_mdm_messages(stack: Stack) -> None:
    listener = Listener()
    try:
        job = submit(stack.api, AUDIO, callback_url=f"mllp://127.0.0.1:{listener.port}", note_type="colonoscopy",
                     patient_reference="Patient/123", encounter_reference="Encounter/E9")
        job_id = job["id"]
        complete(stack, job_id)
        review(stack.api, job_id)
        hook = delivered(stack.api, job_id, "document.amended v3")
        # One per event, as an engine keeps them (by control id: a retried one arrives twice).
        received: list[hl7.Message] = list({str(m.segment("MSH")(10)): m for m in listener.received}.values())
    finally:
        listener.stop()

    assert hook["format"] == "hl7v2" and hook["url"] == f"mllp://127.0.0.1:{listener.port}"
    assert [(str(m.segment("MSH")(9)), str(m.segment("TXA")(12)(1)(1)), str(m.segment("TXA")(17)))
            for m in received] == [
        ("MDM^T02^MDM_T02", f"{job_id}-1", "DO"), ("MDM^T08^MDM_T02", f"{job_id}-1", "DO"),
        ("MDM^T02^MDM_T02", f"{job_id}-1", "LA"), ("MDM^T10^MDM_T02", f"{job_id}-3", "LA")]
    assert str(received[3].segment("TXA")(13)(1)(1)) == f"{job_id}-1"
    assert [[str(o(5)) for o in m.segments("OBX")] for m in received][-1] == AMENDED.splitlines()
    assert {str(m.segment("PID")(3)) for m in received} == {"123^^^^PI"}
    assert [(a["event"], a["code"]) for a in hook["attempts"] if a["error"] is None] == [
        ("job.completed", "hl7_accepted"), ("document.corrected v2", "hl7_accepted"),
        ("document.signed v2", "hl7_accepted"), ("document.amended v3", "hl7_accepted")]


def test_mllp_targets_pass_the_callback_guard_at_submit(stack: Stack) -> None:
    def refused(**fields: str) -> tuple[int, str, str]:
        answer = stack.api.post("/v1/jobs", files={"file": ("a.ogg", AUDIO.read_bytes())}, data=fields)
        error = answer.json()["error"]
        return answer.status_code, error["code"], error["message"]

    assert refused(callback_url="mllp://127.0.0.1:2575", callback_format="full")[:2] == (422, "invalid_callback")
    assert refused(callback_url="mllp://127.0.0.1:2575", callback_auth_header_name="Authorization",
                   callback_auth_header_value="Bearer x")[2] == \
        "an mllp:// callback_url takes no auth header: MLLP has no headers"
    assert refused(callback_url="https://93.184.215.14/x", callback_format="hl7v2")[:2] == (422, "invalid_callback")
    assert refused(callback_url="mllp://127.0.0.1:2575/inbound")[:2] == (422, "callback_url_refused")
    assert refused(callback_url="mllp://169.254.169.254:2575")[2] == \
        "callback_url resolves to a cloud metadata address; only public hosts can be called back"
