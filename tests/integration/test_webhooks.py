"""Webhook callbacks end to end: real API, worker, deliverer process and an HTTP receiver on loopback."""

from __future__ import annotations

import base64
import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from standardwebhooks.webhooks import Webhook

from tests.jobs import FIXTURES, submit, wait_for_status
from tests.polling import eventually
from tests.receiver import Receiver, Reply
from tests.services import TEST_WEBHOOK_SECRET, Process, start_api, start_deliverer

AUDIO = FIXTURES / "summary.ogg"


def webhook_state(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    hook: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        hook.clear()
        hook.update(client.get(f"/v1/jobs/{job_id}").json()["webhook"])
        return dict(hook) if hook["status"] in statuses else None

    return eventually(reached, timeout, lambda: f"webhook in {statuses} (last seen: {hook})")


def verify(request_headers: dict[str, str], body: bytes) -> Any:
    return Webhook(TEST_WEBHOOK_SECRET).verify(body, request_headers)


def test_a_completed_job_is_called_back_once_signed_and_thin(
    client: httpx.Client, deliverer: Process, service_dir: Path
) -> None:
    secret_value = "Bearer ehr-token-s3cr3t-7731"
    with Receiver() as receiver:
        job_id = submit(client, AUDIO, callback_url=f"{receiver.url}/hooks?token=abc",
                        callback_auth_header_name="Authorization", callback_auth_header_value=secret_value)["id"]
        hook = webhook_state(client, job_id, {"delivered", "failed"})
        [request] = receiver.wait_for(1)
        time.sleep(0.5)  # time for a second delivery (retries come 0.3 s apart here): none may come
        assert len(receiver.requests) == 1

    payload = verify(request.headers, request.body)
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert payload == {
        "type": "job.completed",
        "timestamp": job["finished_at"],
        "data": {"id": job_id, "status": "completed", "status_url": job["result_url"].removesuffix("/result"),
                 "result_url": job["result_url"]},
    }
    assert request.path == "/hooks?token=abc"
    assert request.headers["authorization"] == secret_value
    assert request.headers["webhook-id"] == f"msg_{job_id.replace('-', '')}"
    assert request.headers["content-type"] == "application/json"
    transcript = client.get(f"/v1/jobs/{job_id}/result").json()["text"]
    assert transcript and transcript.split()[2] not in request.body.decode()
    assert hook["status"] == "delivered" and hook["next_attempt_at"] is None
    assert hook["url"] == f"{receiver.url}/hooks"
    [attempt] = hook["attempts"]
    assert attempt["status_code"] == 200 and attempt["error"] is None and attempt["duration_ms"] >= 0
    # The auth header value is shown nowhere: not in the API's answers, not in any process's log.
    assert secret_value not in json.dumps(job) and "ehr-token" not in json.dumps(job)
    for log in service_dir.glob("*.log"):
        assert "ehr-token" not in log.read_text(errors="replace"), log.name


def test_a_failing_receiver_gets_it_on_the_third_attempt(client: httpx.Client, deliverer: Process) -> None:
    with Receiver([Reply(500), Reply(500)]) as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        hook = webhook_state(client, job_id, {"delivered", "failed"})
        requests = receiver.wait_for(3)

    assert hook["status"] == "delivered"
    assert [a["status_code"] for a in hook["attempts"]] == [500, 500, 200]
    assert [a["error"] for a in hook["attempts"]] == ["HTTP 500", "HTTP 500", None]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for r in requests:
        verify(r.headers, r.body)
    gaps = [b.at - a.at for a, b in itertools.pairwise(requests)]
    # Base 0.3 s, doubling, with up to +50% jitter: at least 0.3 s, then at least 0.6 s. The upper
    # bounds only catch a schedule gone wild; a loaded CI machine adds polling and scheduling delay.
    assert 0.3 <= gaps[0] < 5 and 0.6 <= gaps[1] < 5


@pytest.mark.parametrize("status", [410, 400, 302])
def test_gone_and_client_errors_stop_retries(client: httpx.Client, deliverer: Process, status: int) -> None:
    headers = {"location": "http://169.254.169.254/"} if status == 302 else {}
    with Receiver(default=Reply(status, headers=headers)) as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        hook = webhook_state(client, job_id, {"delivered", "failed"})
        time.sleep(1.5)  # time for retries (0.3 s apart here): none may come
        assert len(receiver.requests) == 1
    assert hook["status"] == "failed"
    assert [a["status_code"] for a in hook["attempts"]] == [status]


def test_a_timeout_counts_as_a_failed_attempt_and_is_retried(client: httpx.Client, deliverer: Process) -> None:
    with Receiver([Reply(200, delay=2.5)]) as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        hook = webhook_state(client, job_id, {"delivered", "failed"})
    assert hook["status"] == "delivered"
    first, second = hook["attempts"]
    assert first["status_code"] is None and first["error"].startswith("timeout")
    assert 900 <= first["duration_ms"] < 5000
    assert second["status_code"] == 200


def test_429_retry_after_is_honoured(client: httpx.Client, deliverer: Process) -> None:
    with Receiver([Reply(429, headers={"retry-after": "2"})]) as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        webhook_state(client, job_id, {"delivered"})
        first, second = receiver.wait_for(2)
    assert second.at - first.at >= 2.0


def test_full_format_carries_the_transcript(client: httpx.Client, deliverer: Process) -> None:
    with Receiver() as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url, callback_format="full")["id"]
        [request] = receiver.wait_for(1)
    payload = verify(request.headers, request.body)
    assert payload["data"]["transcript"] == client.get(f"/v1/jobs/{job_id}/result").json()


def test_fhir_format_is_a_valid_document_reference(client: httpx.Client, deliverer: Process) -> None:
    with Receiver() as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url, callback_format="fhir", note_type="colonoscopy",
                        patient_reference="Patient/123", encounter_reference="Encounter/456")["id"]
        [request] = receiver.wait_for(1)
    assert request.headers["content-type"] == "application/fhir+json"
    document = DocumentReference.model_validate(verify(request.headers, request.body))
    job = client.get(f"/v1/jobs/{job_id}").json()
    text = client.get(f"/v1/jobs/{job_id}/result", params={"format": "txt"}).text.strip()
    assert document.status == "current" and document.docStatus == "preliminary"
    assert [(c.system, c.code) for c in document.type.coding] == [("http://loinc.org", "18746-8")]
    assert document.category[0].coding[0].code == "clinical-note"
    assert document.subject.reference == "Patient/123"
    assert document.context.encounter[0].reference == "Encounter/456"
    assert [(i.system, i.value) for i in document.identifier] == [("urn:endoscribe:job", job_id)]
    attachment = document.content[0].attachment
    assert attachment.contentType == "text/plain; charset=utf-8"
    # fhir.resources decodes base64Binary; check the wire form too.
    assert attachment.data.decode() == text
    raw = json.loads(request.body)["content"][0]["attachment"]["data"]
    assert base64.b64decode(raw).decode() == text
    assert document.date.isoformat().replace("+00:00", "Z") == job["finished_at"]


def test_redeliver_sends_it_again_with_the_same_id(client: httpx.Client, deliverer: Process) -> None:
    with Receiver() as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        webhook_state(client, job_id, {"delivered"})
        response = client.post(f"/v1/jobs/{job_id}/webhook/redeliver")
        assert response.status_code == 202
        first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    hook = webhook_state(client, job_id, {"delivered"})
    assert len(hook["attempts"]) == 2
    no_hook = submit(client, AUDIO)["id"]
    wait_for_status(client, no_hook)
    assert client.post(f"/v1/jobs/{no_hook}/webhook/redeliver").json()["error"]["code"] == "no_webhook"


def test_a_cancelled_job_is_called_back_too(client: httpx.Client, deliverer: Process) -> None:
    from tests.jobs import long_recording

    with Receiver() as receiver:
        blocker = submit(client, long_recording(6))["id"]
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        client.delete(f"/v1/jobs/{job_id}")
        [request] = receiver.wait_for(1)
        client.delete(f"/v1/jobs/{blocker}")
    payload = verify(request.headers, request.body)
    assert payload["type"] == "job.cancelled" and payload["data"]["status"] == "cancelled"
    assert "result_url" not in payload["data"]


def test_delivery_resumes_after_the_deliverer_is_killed_mid_attempt(
    client: httpx.Client, redis_url: str, service_dir: Path
) -> None:
    first = start_deliverer(redis_url, service_dir, name="deliverer-first")
    with Receiver([Reply(200, delay=0.8)]) as receiver:
        job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
        receiver.wait_for(1)
        first.stop(signal.SIGKILL)  # mid-attempt: the 200 never reaches it
        second = start_deliverer(redis_url, service_dir, name="deliverer-second")
        try:
            hook = webhook_state(client, job_id, {"delivered", "failed"}, timeout=30)
            requests = receiver.wait_for(2)
        finally:
            second.stop()
    assert hook["status"] == "delivered"
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]


def test_targets_that_resolve_privately_are_refused_at_delivery(
    client: httpx.Client, redis_url: str, service_dir: Path
) -> None:
    strict = start_deliverer(redis_url, service_dir, name="deliverer-strict", ENDOSCRIBE_WEBHOOK_ALLOW_PRIVATE="false")
    try:
        with Receiver() as receiver:
            # The session API allows loopback targets; this deliverer re-checks and must not connect.
            job_id = submit(client, AUDIO, callback_url=receiver.url)["id"]
            hook = webhook_state(client, job_id, {"delivered", "failed"})
            time.sleep(0.5)  # time for an attempt to reach the receiver: none may
            assert receiver.requests == []
    finally:
        strict.stop()
    [attempt] = hook["attempts"]
    assert hook["status"] == "failed" and attempt["status_code"] is None
    assert "loopback" in attempt["error"]


def test_unsafe_callback_urls_are_refused_at_submit(redis_url: str, service_dir: Path) -> None:
    proc, base = start_api(redis_url, service_dir, ENDOSCRIBE_WEBHOOK_ALLOW_PRIVATE="false",
                           ENDOSCRIBE_WEBHOOK_ALLOW_HTTP="false")
    audio = AUDIO.read_bytes()
    try:
        cases = {
            "https://127.0.0.1:9/hook": "loopback",
            "https://[::1]/hook": "loopback",
            "https://169.254.169.254/latest/meta-data": "metadata",
            "https://10.1.2.3/x": "private",
            "https://[fdaa::3]/x": "Fly.io private",
            "https://[::ffff:127.0.0.1]/x": "loopback",
            "http://93.184.215.14/x": "https",
            "ftp://files.example.org/x": "http(s)",
            "https://user:pw@93.184.215.14/x": "credentials",
            "not a url": "http(s)",
        }
        for url, reason in cases.items():
            response = httpx.post(f"{base}/v1/jobs", files={"file": ("a.ogg", audio)}, data={"callback_url": url})
            assert response.status_code == 422, (url, response.text)
            assert reason in response.json()["error"]["message"], (url, response.text)
        bad_fields = [{"callback_format": "xml"}, {"note_type": "dermatology"}, {"patient_reference": "123"},
                      {"callback_auth_header_name": "webhook-signature", "callback_auth_header_value": "x"},
                      {"callback_auth_header_name": "X-Token"}]
        for fields in bad_fields:
            response = httpx.post(f"{base}/v1/jobs", files={"file": ("a.ogg", audio)},
                                  data={"callback_url": "https://93.184.215.14/x", **fields})
            assert response.status_code == 422, (fields, response.text)
    finally:
        proc.stop()
