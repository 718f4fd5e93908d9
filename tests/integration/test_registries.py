"""Adding a note type, a callback format or a result renderer is one registry entry (plus its
vocabulary file or builder): registered here, from the test alone, each one is validated, documented
and dispatched by the API, the store and the deliverer without another line changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from core.job_store import Claim, JobStore
from core.jobs import JobStatus, Segment, Transcript
from core.note_types import NOTE_TYPES, NoteType
from core.renderers import RENDERERS, Renderer
from core.settings import Settings, VocabularySettings, WebhookSettings
from core.vocabulary import decoding_prompt
from core.webhook_store import WebhookStore
from tests.jobs import FIXTURES
from tests.services import TEST_WEBHOOK_SECRET
from webhooks.delivery import Deliverer, build_body
from webhooks.formats import CALLBACK_FORMATS, CallbackEvent, CallbackFormat
from webhooks.payloads import fhir_document_reference

AUDIO = (FIXTURES / "summary.ogg").read_bytes()
TRANSCRIPT = Transcript(text="Seborrheic keratosis on the back.", language="en", duration=2.0,
                        segments=[Segment(start=0.0, end=2.0, text="Seborrheic keratosis on the back.")])


def summary_body(event: CallbackEvent) -> bytes:
    assert event.transcript is not None
    return f"{event.record.id}: {event.transcript.text}".encode()


@pytest.fixture()
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One fake of each kind, in its registry only (undone after the test)."""
    terms = tmp_path / "dermatology.txt"
    terms.write_text("# Source: this test\ndermatoscope\nseborrheic keratosis\n")
    monkeypatch.setitem(NOTE_TYPES, "dermatology", NoteType("dermatology", terms, "34111-5", "Dermatology note"))
    monkeypatch.setitem(CALLBACK_FORMATS, "summary", CallbackFormat(
        "summary", "text/x-summary; charset=utf-8", summary_body, wants_transcript=True))
    monkeypatch.setitem(RENDERERS, "shout", Renderer(
        "shout", "text/x-shout; charset=utf-8", lambda t: t.text.upper().encode()))


@pytest.fixture()
def settings(own_redis_url: str) -> Settings:
    webhook = WebhookSettings(secret=TEST_WEBHOOK_SECRET, allow_private=True, allow_http=True)
    return Settings(REDIS_URL=own_redis_url, dev_mode=True, webhook=webhook)


@pytest.fixture()
def api(registered: None, settings: Settings, clean_redis: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        yield client


def submit(api: TestClient, **fields: str) -> tuple[int, dict[str, object]]:
    response = api.post("/v1/jobs", files={"file": ("a.ogg", AUDIO)}, data=fields)
    return response.status_code, response.json()


def test_registered_kinds_are_documented(api: TestClient) -> None:
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert "summary" in schemas["JobSubmission"]["properties"]["callback_format"]["enum"]
    result = api.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}/result"]["get"]
    assert "shout" in next(p for p in result["parameters"] if p["name"] == "format")["schema"]["enum"]
    # (The 200's media types are read from the registry when the route is declared, at import.)
    assert {r.media_type for r in RENDERERS.values() if r.name != "shout"} <= set(result["responses"]["200"]["content"])


def test_registered_kinds_are_validated_at_submission(api: TestClient) -> None:
    hook = "http://127.0.0.1:9/hook"
    assert submit(api, callback_url=hook, callback_format="smoke-signal")[1]["error"]["code"] == "validation_error"
    assert submit(api, note_type="mycology")[1]["error"]["code"] == "invalid_note_type"
    status, _ = submit(api, note_type="dermatology", callback_url=hook, callback_format="summary")
    assert status == 202


def test_a_fake_note_type_format_and_renderer_flow_from_submission_to_delivery_and_result(
    api: TestClient, settings: Settings, clean_redis: redis.Redis
) -> None:
    status, created = submit(api, note_type="dermatology", callback_url="http://127.0.0.1:9/hook",
                             callback_format="summary")
    assert status == 202, created
    job_id = str(created["id"])
    store, webhooks = JobStore(clean_redis, 3600), WebhookStore(clean_redis, 3600)

    # The note type's vocabulary file decodes the job.
    options = store.get(job_id).options
    assert options.note_type == "dermatology"
    prompt, _ = decoding_prompt(options, VocabularySettings())
    assert prompt is not None and prompt.startswith("dermatoscope, seborrheic keratosis, ")

    assert store.claim(job_id, "run", "worker-1", 60, 3) is Claim.CLAIMED
    assert store.end(job_id, "run", JobStatus.COMPLETED, TRANSCRIPT)

    # The callback's body is the format's, with its media type.
    hook = webhooks.get(job_id)
    assert hook is not None and hook.config.format == "summary" and hook.config.note_type == "dermatology"
    deliverer = Deliverer(store, webhooks, settings.webhook, resolver=lambda host, port: ["127.0.0.1"])
    assert build_body(deliverer, job_id, hook) == (f"{job_id}: {TRANSCRIPT.text}".encode(),
                                                    "text/x-summary; charset=utf-8")
    # A FHIR callback of the note type carries its LOINC document type.
    document = fhir_document_reference(store.get(job_id), TRANSCRIPT, "dermatology", None, None)
    assert document["type"]["coding"][0] == {"system": "http://loinc.org", "code": "34111-5",
                                             "display": "Dermatology note"}

    # The result renders in the renderer's format.
    result = api.get(f"/v1/jobs/{job_id}/result", params={"format": "shout"})
    assert (result.status_code, result.headers["content-type"], result.text) == (
        200, "text/x-shout; charset=utf-8", TRANSCRIPT.text.upper())
    assert json.loads(api.get(f"/v1/jobs/{job_id}/result").text)["text"] == TRANSCRIPT.text
