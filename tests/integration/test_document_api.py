"""`/v1/jobs/{id}/document` and `/sign` through the served app on a real redis-server: a completed
job's note corrected, signed and amended, every version kept with who and when; another key's note is
a 404; stale versions, unfinished jobs and second signatures are 409s with their codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.document_store import document_key
from core.job_store import JobStore
from core.jobs import JobStatus, Segment, Transcript
from core.settings import Settings
from tests.integration.test_quotas import KEYS, LiveApi, auth, submitted

TEXT = "Cecum reached. Polyp 5 mm removed with cold snare."
A, B = auth(KEYS[0]), auth(KEYS[1])


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS, max_body_kb=8))
    yield live
    live.close()


def completed(api: LiveApi, text: str = TEXT) -> str:
    """A job of key A, run to completion as a worker would."""
    job_id = submitted(api, KEYS[0])
    store: JobStore = api.app.state.store
    store.claim(job_id, "run", "worker-1", 60, 3)
    transcript = Transcript(text=text, language="en", duration=4.0, segments=[Segment(start=0, end=4, text=text)])
    assert store.end(job_id, "run", JobStatus.COMPLETED, transcript)
    return job_id


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_note_is_corrected_signed_and_amended_and_every_version_is_kept(api: LiveApi) -> None:
    job_id = completed(api)
    url = f"/v1/jobs/{job_id}/document"
    first = ok(api.get(url, headers=A))
    assert (first["status"], first["current"]["version"], first["current"]["text"]) == ("preliminary", 1, TEXT)
    assert [e["action"] for e in first["audit"]] == ["transcribed"]

    corrected = ok(api.post(url, headers=A, json={"text": TEXT.replace("5 mm", "6 mm"), "base_version": 1,
                                                  "author": "Practitioner/77"}))
    signed = ok(api.post(f"/v1/jobs/{job_id}/sign", headers=A, json={"author": "Practitioner/77", "base_version": 2}))
    amended = ok(api.post(url, headers=A, json={"text": TEXT.replace("5 mm", "7 mm"), "base_version": 2,
                                                "author": "Practitioner/77", "reason": "size re-measured"}))

    assert (corrected["version"], corrected["kind"], corrected["status"], corrected["author"]) == (
        2, "correction", "preliminary", "Practitioner/77")
    assert corrected["diff"] == [{"op": "replace", "at": 3, "removed": "5", "added": "6"}]
    assert (signed["version"], signed["status"], signed["signature"]["author"]) == (2, "final", "Practitioner/77")
    assert (amended["version"], amended["kind"], amended["status"], amended["replaces"], amended["reason"]) == (
        3, "amendment", "amended", 2, "size re-measured")
    document = ok(api.get(url, headers=A))
    assert document["status"] == "amended"
    assert [(v["version"], v["status"], v["text"]) for v in document["versions"]] == [
        (1, "preliminary", TEXT), (2, "final", TEXT.replace("5 mm", "6 mm")),
        (3, "amended", TEXT.replace("5 mm", "7 mm"))]
    assert [(e["action"], e["version"], e["author"], e["words_changed"]) for e in document["audit"]] == [
        ("transcribed", 1, "endoscribe", 0), ("corrected", 2, "Practitioner/77", 1),
        ("signed", 2, "Practitioner/77", 0), ("amended", 3, "Practitioner/77", 1)]
    tenants = {e["tenant"] for e in document["audit"][1:]}
    assert len(tenants) == 1 and KEYS[0] not in tenants  # the key's identity (a digest), never the key


def test_another_keys_note_is_not_found_and_stays_unchanged(api: LiveApi, clean_redis: redis.Redis) -> None:
    job_id = completed(api)
    url = f"/v1/jobs/{job_id}/document"

    assert refused(api.get(url, headers=B)) == (404, "not_found")
    assert refused(api.post(url, headers=B, json={"text": "forged"})) == (404, "not_found")
    assert refused(api.post(f"/v1/jobs/{job_id}/sign", headers=B, json={})) == (404, "not_found")
    assert refused(api.get("/v1/jobs/no-such-job/document", headers=A)) == (404, "not_found")
    assert not clean_redis.exists(document_key(job_id))
    assert ok(api.get(url, headers=A))["current"]["text"] == TEXT


def test_stale_unfinished_signed_and_malformed_changes_are_refused_with_their_codes(api: LiveApi) -> None:
    job_id = completed(api)
    url = f"/v1/jobs/{job_id}/document"
    ok(api.post(url, headers=A, json={"text": "first reviewer", "base_version": 1}))

    stale = api.post(url, headers=A, json={"text": "second reviewer", "base_version": 1})
    assert refused(stale) == (409, "stale_version")
    assert "version 2 is the current one, not 1" in stale.json()["error"]["message"]
    assert refused(api.post(f"/v1/jobs/{job_id}/sign", headers=A, json={"base_version": 1})) == (409, "stale_version")
    ok(api.post(f"/v1/jobs/{job_id}/sign", headers=A, json={}))
    assert refused(api.post(f"/v1/jobs/{job_id}/sign", headers=A, json={})) == (409, "document_signed")
    queued = submitted(api, KEYS[0])
    assert refused(api.get(f"/v1/jobs/{queued}/document", headers=A)) == (409, "job_queued")
    assert refused(api.post(f"/v1/jobs/{queued}/document", headers=A, json={"text": "x"})) == (409, "job_queued")
    assert refused(api.post(url, headers=A, json={"text": " \n"})) == (400, "invalid_input")
    assert refused(api.post(url, headers=A, json={})) == (422, "validation_error")
    assert refused(api.post(url, headers=A, json={"text": "x", "base_version": 0})) == (422, "validation_error")
    assert refused(api.post(url, headers=A, json={"text": "x" * 9000})) == (413, "body_too_large")
    assert [v["text"] for v in ok(api.get(url, headers=A))["versions"]] == [TEXT, "first reviewer"]


def test_an_erased_jobs_note_is_gone(api: LiveApi, clean_redis: redis.Redis) -> None:
    job_id = completed(api)
    ok(api.post(f"/v1/jobs/{job_id}/document", headers=A, json={"text": "corrected"}))
    assert clean_redis.exists(document_key(job_id))

    assert api.delete(f"/v1/jobs/{job_id}", headers=A).status_code == 204

    assert not clean_redis.exists(document_key(job_id))
    assert refused(api.get(f"/v1/jobs/{job_id}/document", headers=A)) == (404, "not_found")
