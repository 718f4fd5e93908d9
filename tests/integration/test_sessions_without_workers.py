"""Live sessions with no worker alive, on the real API (uvicorn) and a real redis-server: acknowledged
audio becomes a job anyway, and the key is not locked out meanwhile."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.fakes import tone_pcm
from tests.live import LiveClient, chunks
from tests.polling import eventually
from tests.services import start_api, start_redis


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, redis.Redis]]:
    tmp: Path = tmp_path_factory.mktemp("no-workers")
    redis_proc, url = start_redis(tmp)
    api, base = start_api(url, tmp, ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY="1", ENDOSCRIBE_LIVE_END_GRACE_SECONDS="2")
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client, redis.Redis.from_url(url)
    api.stop()
    redis_proc.stop()


def test_an_ended_session_no_worker_takes_becomes_a_queued_job_with_its_audio_and_frees_its_place(
    stack: tuple[httpx.Client, redis.Redis],
) -> None:
    client, store = stack
    session = client.post("/v1/sessions", json={"hotwords": "cecum"}).json()
    live = LiveClient(session["stream_url"])
    pcm = tone_pcm(1.0)
    live.send_audio(chunks(pcm), speed=10)
    live.wait_for(lambda: len(live.of("ack")) == len(chunks(pcm)))
    started = time.monotonic()

    ended = live.end(timeout=20)

    assert ended["job_id"] == session["job_id"] and time.monotonic() - started < 10
    job = client.get(f"/v1/jobs/{session['job_id']}").json()
    assert (job["status"], job["options"]["hotwords"]) == ("queued", "cecum")
    # The job's audio: a WAV header and every acknowledged sample, kept as long as the job.
    stored = b"".join(store.lrange(keys.audio_key(session["job_id"]), 0, -1))
    assert stored[:4] == b"RIFF" and len(stored) == 44 + len(pcm)
    assert store.ttl(keys.audio_key(session["job_id"])) > 3600
    assert client.post("/v1/sessions", json={}).status_code == 201  # the ended session no longer counts


def test_an_ending_session_is_not_counted_against_the_key_while_it_waits(
    stack: tuple[httpx.Client, redis.Redis],
) -> None:
    client, store = stack
    store.flushdb()
    first = client.post("/v1/sessions", json={}).json()
    live = LiveClient(first["stream_url"])
    live.send_audio(chunks(tone_pcm(0.4)), speed=10)
    live.ws.send('{"type": "end"}')
    eventually(lambda: store.hget(keys.session_key(first["id"]), "status") != b"open", 5, "the end")

    assert client.post("/v1/sessions", json={}).status_code == 201
