"""The Host header is not trusted: the API answers only the names it is reached by, and with API keys
every URL it gives out comes from ENDOSCRIBE_PUBLIC_URL (real API processes and Redis, no worker)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs import FIXTURES
from tests.services import BIN, Process, free_port, service_env, start_api, start_redis

KEY = "hosts-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PUBLIC = "https://scribe.example.org"
AUDIO = (FIXTURES / "summary.ogg").read_bytes()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("hosts-redis"))
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def dev_api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make up`: development mode, no keys, no public URL."""
    proc, base = start_api(redis_url, tmp_path_factory.mktemp("dev-api"), ENDOSCRIBE_PUBLIC_URL="")
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def keyed_api(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = start_api(redis_url, tmp_path_factory.mktemp("keyed-api"), ENDOSCRIBE_DEV_MODE="false",
                           ENDOSCRIBE_API_KEYS=json.dumps([KEY]), ENDOSCRIBE_PUBLIC_URL=PUBLIC,
                           ENDOSCRIBE_ALLOWED_HOSTS='["api.internal"]')
    yield base
    proc.stop()


def port_of(base: str) -> str:
    return base.rsplit(":", 1)[1]


def test_a_rebound_host_name_is_refused_400_in_development(dev_api: str) -> None:
    # A page on evil.example whose name now resolves to 127.0.0.1: the browser sends its own name as Host.
    for host in ("evil.example", f"evil.example:{port_of(dev_api)}", "127.0.0.1.evil.example"):
        response = httpx.get(f"{dev_api}/v1/jobs", headers={"Host": host})
        assert response.status_code == 400, host
        assert response.json()["error"]["code"] == "invalid_host"
    session = httpx.post(f"{dev_api}/v1/sessions", json={}, headers={"Host": "evil.example"})
    assert session.status_code == 400


def test_loopback_names_are_answered_in_development_and_urls_follow_them(dev_api: str) -> None:
    port = port_of(dev_api)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.get(f"{dev_api}/v1/jobs", headers={"Host": host}).status_code == 200, host
    created = httpx.post(f"{dev_api}/v1/jobs", files={"file": ("a.ogg", AUDIO)}, headers={"Host": f"localhost:{port}"})
    assert created.status_code == 202, created.text
    assert created.json()["status_url"].startswith(f"http://localhost:{port}/v1/jobs/")


def test_liveness_answers_whatever_the_host(dev_api: str) -> None:
    # Orchestrators probe by address (a pod IP, a Fly machine): /health carries nothing from the request.
    assert httpx.get(f"{dev_api}/health", headers={"Host": "10.0.0.7:8000"}).json() == {"status": "ok"}


def test_with_keys_every_url_comes_from_the_public_url_never_the_host(keyed_api: str) -> None:
    for host in ("scribe.example.org", "api.internal", f"127.0.0.1:{port_of(keyed_api)}"):
        session = httpx.post(f"{keyed_api}/v1/sessions", json={}, headers={**AUTH, "Host": host})
        assert session.status_code == 201, (host, session.text)
        body = session.json()
        assert body["stream_url"].startswith(f"wss://scribe.example.org/v1/sessions/{body['id']}/stream?token=")
        assert body["events_url"].startswith(f"{PUBLIC}/v1/sessions/{body['id']}/events?token=")
        assert body["result_url"] == f"{PUBLIC}/v1/jobs/{body['job_id']}/result"
        job = httpx.post(f"{keyed_api}/v1/jobs", files={"file": ("a.ogg", AUDIO)}, headers={**AUTH, "Host": host})
        assert job.status_code == 202, job.text
        assert job.json()["status_url"] == f"{PUBLIC}/v1/jobs/{job.json()['id']}"
    refused = httpx.get(f"{keyed_api}/v1/jobs", headers={**AUTH, "Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.json() == {"error": {"code": "invalid_host", "message": (
        "this API does not answer to the host name 'evil.example'; reach it at its public URL, or add the name to "
        "ENDOSCRIBE_ALLOWED_HOSTS")}}


def test_with_keys_the_api_does_not_start_without_a_public_url(redis_url: str, tmp_path: Path) -> None:
    args = [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(free_port())]
    env = service_env(redis_url, ENDOSCRIBE_DEV_MODE="false", ENDOSCRIBE_API_KEYS=json.dumps([KEY]))
    proc = Process(args, env, tmp_path / "api.log")
    try:
        assert proc.proc.wait(30) != 0
        assert "ENDOSCRIBE_PUBLIC_URL is empty" in proc.output()
    finally:
        proc.stop()


def test_a_websocket_for_a_rebound_host_name_is_refused_before_it_is_accepted(dev_api: str) -> None:
    host, port = dev_api.removeprefix("http://").split(":")
    handshake = ["GET /v1/sessions/00000000-0000-4000-8000-000000000000/stream?token=x HTTP/1.1",
                 "Host: evil.example", "Upgrade: websocket", "Connection: Upgrade",
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "", ""]
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall("\r\n".join(handshake).encode())
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"403"
