"""Every request body is bounded before it is read: JSON routes at `max_body_kb`, declared or chunked,
on a real API process and Redis (no worker: nothing here needs one)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.services import start_api, start_redis

KEY = "body-limit-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("bodies")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp, ENDOSCRIBE_API_KEYS=json.dumps([KEY]), ENDOSCRIBE_MAX_BODY_KB="64")
    yield base
    api_proc.stop()
    redis_proc.stop()


def raw_request(base: str, head: list[str], body: bytes = b"") -> tuple[int, dict[str, object]]:
    """Send a request's head (and maybe the start of its body) and read the answer, which must come
    without the rest of the body."""
    host, port = base.removeprefix("http://").split(":")
    lines = [*head, f"Host: {host}:{port}", f"Authorization: Bearer {KEY}", "Content-Type: application/json", "", ""]
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall("\r\n".join(lines).encode() + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("path", ["/v1/vocabularies", "/v1/sessions"])
def test_a_json_body_declared_over_the_limit_is_413_before_it_is_read(api: str, path: str) -> None:
    status, body = raw_request(api, [f"POST {path} HTTP/1.1", f"Content-Length: {300 * 10**6}"], b'{"name": "')
    assert (status, body) == (413, {"error": {
        "code": "body_too_large",
        "message": "the request body is 300000.0 KB; the limit is 64 KB (ENDOSCRIBE_MAX_BODY_KB) on this route"}})


@pytest.mark.parametrize("path", ["/v1/vocabularies", "/v1/sessions"])
def test_a_chunked_json_body_is_refused_411(api: str, path: str) -> None:
    head = [f"POST {path} HTTP/1.1", "Transfer-Encoding: chunked"]
    status, body = raw_request(api, head, b'10\r\n{"name": "aaaa\r\n')
    assert status == 411
    assert body == {"error": {"code": "length_required", "message":
                              "send the request body with a Content-Length header (no chunked bodies)"}}


def test_a_body_within_the_limit_is_read_as_before(api: str) -> None:
    created = httpx.post(f"{api}/v1/vocabularies", json={"name": "GI", "phrases": ["sessile"]}, headers=AUTH)
    assert created.status_code == 201, created.text
    near = httpx.post(f"{api}/v1/vocabularies", headers=AUTH,
                      content=json.dumps({"name": "GI", "phrases": ["a"], "pad": "x" * 60_000}))
    assert near.status_code == 422  # read and validated: `pad` is no field


def test_a_nested_vocabulary_form_field_is_422_not_500(api: str) -> None:
    from tests.jobs import FIXTURES

    audio = (FIXTURES / "summary.ogg").read_bytes()
    for field in ('[["sessile"]]', '[{"phrase": {"a": 1}}]', '[{"phrase": "a", "sounds_like": [["b"]]}]',
                  '[1]', '[null]', "[" * 5000 + "]" * 5000):
        response = httpx.post(f"{api}/v1/jobs", files={"file": ("a.ogg", audio)}, data={"vocabulary": field},
                              headers=AUTH)
        assert response.status_code == 422, (field[:40], response.text)
        assert response.json()["error"]["code"] == "invalid_vocabulary"


@pytest.mark.parametrize("phrases", [
    [{"phrase": "sessile", "sounds_like": ["x" * 65]}],
    [{"phrase": "sessile", "sounds_like": [""]}],
    [{"phrase": "sessile", "sounds_like": ["a", "b", "c", "d", "e"]}],
    [{"phrase": "sessile", "display_as": "x" * 65}],
    ["a"] * 1001,
])
def test_every_string_and_list_of_a_vocabulary_is_bounded(api: str, phrases: list[object]) -> None:
    response = httpx.post(f"{api}/v1/vocabularies", json={"name": "GI", "phrases": phrases}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
