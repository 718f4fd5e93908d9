"""Live dictation with audio kept in S3 (the Fly/Tigris and MinIO setup): moto's S3 server, the API under
uvicorn and a worker with the bundled model, both configured for it, and a real WebSocket client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.e2e.test_transcription import word_error_rate
from tests.jobs import FIXTURES, reference, wait_for_status
from tests.live import LiveClient, chunks, fixture_pcm
from tests.polling import eventually
from tests.services import s3_api_env, s3_client, start_api, start_redis, start_s3, start_worker


@pytest.fixture(scope="module")
def s3_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, redis.Redis, str]]:
    tmp: Path = tmp_path_factory.mktemp("sessions-s3")
    s3_proc, endpoint = start_s3(tmp)
    redis_proc, url = start_redis(tmp)
    env = s3_api_env(endpoint)
    worker = start_worker(url, tmp, "s3-live", **env)
    api, base = start_api(url, tmp, **env)
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client, redis.Redis.from_url(url), endpoint
    for proc in (api, worker, redis_proc, s3_proc):
        proc.stop()


def test_a_session_on_s3_ends_as_a_job_that_completes_with_its_transcript(
    s3_stack: tuple[httpx.Client, redis.Redis, str],
) -> None:
    client, store, endpoint = s3_stack
    session = client.post("/v1/sessions", json={"formatting": "none"}).json()
    live = LiveClient(session["stream_url"])
    pcm = fixture_pcm(FIXTURES / "colonoscopy.wav")

    live.send_audio(chunks(pcm), speed=2)
    ended = live.end()

    assert ended["job_id"] == session["job_id"] and live.of("final"), live.messages
    # The job's audio went to the bucket, not beside the job in Redis.
    assert not store.exists(keys.audio_key(session["job_id"]))
    job = wait_for_status(client, session["job_id"])
    assert job["status"] == "completed", job
    assert job["audio_seconds"] == pytest.approx(len(pcm) / 32000, abs=0.002)
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()
    assert word_error_rate(reference("colonoscopy"), result["text"]) <= 0.15, result["text"]
    # Once the job is over its audio is deleted from the bucket too.
    s3 = s3_client(endpoint)
    eventually(lambda: not s3.list_objects_v2(Bucket="audio", Prefix="uploads/").get("Contents"), 10, "audio deleted")
