"""`POST /v1/audio/transcriptions` is held to what `POST /v1/jobs` is: keys, upload limit, quotas and
isolation, judged before the body is read. A real redis-server, no worker (jobs stay queued)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import redis

from core.settings import QuotaSettings, Settings
from core.tuning import ApiTuning
from tests.integration.test_quotas import AUDIO, KEYS, LiveApi, auth

PATH = "/v1/audio/transcriptions"


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS, max_upload_mb=0.1, transcription_wait_seconds=0.2,
                            tuning=ApiTuning(events_poll_seconds=0.05), quota=QuotaSettings(max_jobs_in_flight=1)))
    yield live
    live.close()


def transcribe(api: LiveApi, key: str | None, audio: bytes = AUDIO) -> tuple[int, dict[str, str]]:
    response = api.post(PATH, files={"file": ("a.ogg", audio)}, data={"model": "whisper-1"},
                        headers=auth(key) if key else {})
    return response.status_code, response.json()["error"]


def headers_only(api: LiveApi, key: str, length: int = 2 * 10**9) -> tuple[int, str]:
    """Send only the headers of a transcription declaring a body; the answer's status and error code."""
    lines = [f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: multipart/form-data; boundary=x",
             f"Content-Length: {length}", f"Authorization: Bearer {key}", "", ""]
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as conn:
        conn.sendall("\r\n".join(lines).encode())
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]["code"]


def test_keys_size_and_jobs_in_flight_are_judged_as_for_jobs(api: LiveApi) -> None:
    assert transcribe(api, None)[0] == 401
    assert transcribe(api, "not-a-key")[0] == 401
    # Refused from the headers alone: the body is never sent.
    assert headers_only(api, KEYS[0]) == (413, "file_too_large")

    # Past the short wait the job goes on, queued (no worker): it holds the key's one place.
    status, error = transcribe(api, KEYS[0])
    assert (status, error["code"]) == (504, "transcription_timeout")
    status, error = transcribe(api, KEYS[0])
    assert (status, error["code"]) == (429, "too_many_jobs_in_flight")
    assert headers_only(api, KEYS[0], length=50_000) == (429, "too_many_jobs_in_flight")
    assert transcribe(api, KEYS[1])[0] == 504  # another key has its own place

    (job,) = api.get("/v1/jobs", headers=auth(KEYS[0])).json()["jobs"]
    (other,) = api.get("/v1/jobs", headers=auth(KEYS[1])).json()["jobs"]
    assert job["status"] == other["status"] == "queued" and job["id"] != other["id"]
    assert api.get(f"/v1/jobs/{job['id']}", headers=auth(KEYS[1])).status_code == 404


def test_a_store_outage_while_waiting_names_the_job_and_asks_for_no_retry(
    api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(job_id: str, timeout: float) -> None:
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(api.app.state.watcher, "wait_for_end", unreachable)

    response = api.post(PATH, files={"file": ("a.ogg", AUDIO)}, headers=auth(KEYS[0]))

    (job,) = api.get("/v1/jobs", headers=auth(KEYS[0])).json()["jobs"]
    assert response.status_code == 503 and response.headers["x-should-retry"] == "false"
    assert response.headers["endoscribe-job-id"] == job["id"]
    assert response.json()["error"]["code"] == "unavailable"
    assert f"while job {job['id']} ran; it goes on" in response.json()["error"]["message"]
