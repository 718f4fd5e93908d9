"""Upload limits and API keys, on a real API process and Redis (no worker needed: jobs only queue)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.jobs import FIXTURES
from tests.services import start_api, start_redis

KEYS = ["clinic-a-key", "clinic-b-key"]


@pytest.fixture(scope="module")
def guarded_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("guarded")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp, ENDOSCRIBE_MAX_UPLOAD_MB="0.3", ENDOSCRIBE_API_KEYS=json.dumps(KEYS))
    yield base
    api_proc.stop()
    redis_proc.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_upload_over_the_limit_is_413_with_both_sizes(guarded_api: str) -> None:
    big = (FIXTURES / "colonoscopy.wav").read_bytes()  # 0.48 MB
    response = httpx.post(f"{guarded_api}/v1/jobs", files={"file": ("a.wav", big)}, headers=auth(KEYS[0]))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large" and "0.5 MB" in error["message"] and "0.3 MB" in error["message"]


def test_requests_without_a_valid_key_are_401(guarded_api: str) -> None:
    for headers in ({}, auth("wrong"), {"Authorization": KEYS[0]}, {"Authorization": "Bearer \u00e9t\u00e9".encode()}):
        response = httpx.get(f"{guarded_api}/v1/jobs/00000000-0000-4000-8000-000000000000", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def raw_post_headers(base: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    """Send only the headers of a POST declaring a 2 GB body, and read the answer."""
    host, port = base.removeprefix("http://").split(":")
    lines = ["POST /v1/jobs HTTP/1.1", f"Host: {host}", "Content-Type: multipart/form-data; boundary=x",
             f"Content-Length: {2 * 10**9}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall("\r\n".join(lines).encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_an_anonymous_or_oversized_upload_is_refused_before_its_body_is_read(guarded_api: str) -> None:
    # The body is never sent: the answer must come from the headers alone.
    assert raw_post_headers(guarded_api, {})[0] == 401
    status, body = raw_post_headers(guarded_api, auth(KEYS[0]))
    assert status == 413
    assert body == {"error": {"code": "file_too_large", "message": "the upload is 2000.0 MB; the limit is 0.3 MB"}}


def test_one_client_cannot_see_or_delete_another_clients_job(guarded_api: str) -> None:
    small = (FIXTURES / "summary.ogg").read_bytes()
    created = httpx.post(f"{guarded_api}/v1/jobs", files={"file": ("a.ogg", small)}, headers=auth(KEYS[0]))
    assert created.status_code == 202
    job_url = created.json()["status_url"]

    assert httpx.get(job_url, headers=auth(KEYS[0])).json()["status"] == "queued"
    for response in (httpx.get(job_url, headers=auth(KEYS[1])), httpx.get(f"{job_url}/result", headers=auth(KEYS[1])),
                     httpx.delete(job_url, headers=auth(KEYS[1]))):
        assert response.status_code == 404
    assert httpx.get(job_url, headers=auth(KEYS[0])).json()["status"] == "queued"


def test_health_needs_no_key(guarded_api: str) -> None:
    assert httpx.get(f"{guarded_api}/health").json() == {"status": "ok"}


def test_another_key_cannot_redeliver_a_jobs_webhook(guarded_api: str) -> None:
    small = (FIXTURES / "summary.ogg").read_bytes()
    created = httpx.post(f"{guarded_api}/v1/jobs", files={"file": ("a.ogg", small)}, headers=auth(KEYS[0]))
    redeliver = f"{created.json()['status_url']}/webhook/redeliver"
    response = httpx.post(redeliver, headers=auth(KEYS[1]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    # Its owner hears why instead: no callback was registered.
    assert httpx.post(redeliver, headers=auth(KEYS[0])).json()["error"]["code"] == "no_webhook"


def test_the_docs_page_works_without_internet(guarded_api: str) -> None:
    page = httpx.get(f"{guarded_api}/docs")
    assert page.status_code == 200 and "cdn." not in page.text
    script = page.text.split('src="')[1].split('"')[0]
    assert script.startswith("/") and httpx.get(f"{guarded_api}{script}").status_code == 200
    assert httpx.get(f"{guarded_api}/openapi.json").json()["info"]["title"] == "EndoScribe"
