"""Large uploads through the real API process into each audio store, run by the job runner, cleaned up.

Redis here refuses any request over 10 MB, as Upstash does; the S3 API is moto's server on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
import redis

from core import keys
from core.audio_store import MB
from core.job_store import JobStore
from core.s3_audio_store import S3AudioStore
from tests.fakes import Harness
from tests.jobs import FIXTURES
from tests.services import s3_api_env, s3_client, start_api, start_redis, start_s3
from tests.uploads import post_concurrently, post_streamed, rss_mb
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job

SIZE = 30_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Redis with a 10 MB request limit, moto's S3, and two APIs: one keeping audio in Redis, one in S3."""
    tmp = tmp_path_factory.mktemp("large-uploads")
    redis_proc, url = start_redis(tmp, "--proto-max-bulk-len", "10mb")
    s3_proc, endpoint = start_s3(tmp)
    redis_api, redis_base = start_api(url, tmp)
    s3_api, s3_base = start_api(url, tmp, **s3_api_env(endpoint))
    yield {"redis_url": url, "s3": endpoint, "redis_api": redis_base, "s3_api": s3_base,
           "redis_api_pid": str(redis_api.proc.pid)}
    for proc in (s3_api, redis_api, s3_proc, redis_proc):
        proc.stop()


def test_a_30_mb_upload_goes_through_a_redis_that_refuses_requests_over_10_mb(stack: dict[str, str]) -> None:
    client = redis.Redis.from_url(stack["redis_url"])
    with pytest.raises(redis.RedisError):
        client.set("too-big", b"\0" * 11_000_000)  # the limit is real: one value of the old kind fails

    response = post_streamed(stack["redis_api"], SIZE)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    stored = [len(piece) for piece in client.lrange(keys.audio_key(job_id), 0, -1)]
    assert sum(stored) == SIZE and max(stored) <= 4 * MB

    assert run_job(job_id, Harness(client).context()) is RunOutcome.COMPLETED
    job = httpx.get(response.json()["status_url"]).json()
    assert (job["status"], round(job["audio_seconds"])) == ("completed", 937)
    assert Harness(client).store.get(job_id).upload_bytes == SIZE
    assert client.exists(keys.audio_key(job_id)) == 0


def test_refused_uploads_leave_no_audio_behind(stack: dict[str, str]) -> None:
    client = redis.Redis.from_url(stack["redis_url"])
    for body, status, error in [
        (b"plain text, not audio" * 100_000, 415, "unsupported_media_type"),
        (b"", 400, "empty_file"),
    ]:
        for base in (stack["redis_api"], stack["s3_api"]):
            response = httpx.post(f"{base}/v1/jobs", files={"file": ("a.wav", body)})
            assert (response.status_code, response.json()["error"]["code"]) == (status, error)
    assert client.keys(keys.audio_key("*")) == []
    assert s3_client(stack["s3"]).list_objects_v2(Bucket="audio").get("Contents", []) == []


def test_with_object_storage_the_audio_leaves_the_bucket_when_its_job_ends_is_cancelled_or_erased(
    stack: dict[str, str],
) -> None:
    client = redis.Redis.from_url(stack["redis_url"])
    s3 = s3_client(stack["s3"])
    audio = S3AudioStore(s3, "audio", "uploads")

    response = post_streamed(stack["s3_api"], SIZE)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert s3.head_object(Bucket="audio", Key=f"uploads/{job_id}")["ContentLength"] == SIZE
    assert client.exists(keys.audio_key(job_id)) == 0  # nothing of it in Redis

    # The worker deletes it right after the job's end transaction.
    ctx = replace(Harness(client).context(), store=JobStore(client, 3600, audio))
    assert run_job(job_id, ctx) is RunOutcome.COMPLETED
    assert audio.get(job_id) is None

    # Cancelling a queued job deletes it at once.
    recording = (FIXTURES / "colonoscopy.wav").read_bytes()
    queued = httpx.post(f"{stack['s3_api']}/v1/jobs", files={"file": ("a.wav", recording)})
    assert audio.get(queued.json()["id"]) is not None
    assert httpx.delete(queued.json()["status_url"]).json()["status"] == "cancelled"
    assert audio.get(queued.json()["id"]) is None

    # Erasing an ended job deletes what a failed delete left behind.
    audio.put(job_id, [b"RIFF....WAVE"])
    assert httpx.delete(response.json()["status_url"]).status_code == 204
    assert audio.get(job_id) is None


def test_the_sweep_keeps_audio_of_open_jobs_only(stack: dict[str, str]) -> None:
    client = redis.Redis.from_url(stack["redis_url"])
    open_job = post_streamed(stack["s3_api"], 1_000_000).json()["id"]
    leftover = "00000000-0000-4000-8000-000000000000"  # no such job: its API died before storing it
    audio = S3AudioStore(s3_client(stack["s3"]), "audio", "uploads", pending_seconds=0)
    audio.put(leftover, [b"RIFF....WAVE"])
    time.sleep(1.1)  # S3 times are whole seconds
    assert audio.sweep(JobStore(client, 3600).is_open) >= 1
    assert audio.get(leftover) is None and audio.get(open_job) is not None


def test_api_memory_stays_flat_while_four_large_uploads_are_in_flight(stack: dict[str, str]) -> None:
    # bench/upload_memory.py measures the 4 x 200 MB case (a minute); this is its quick version.
    pid = int(stack["redis_api_pid"])
    idle, _ = rss_mb(pid)
    responses = post_concurrently(stack["redis_api"], 4, 50_000_000)
    assert [r.status_code for r in responses] == [202] * 4
    _, peak = rss_mb(pid)
    assert peak - idle < 100, f"idle {idle:.0f} MB, peak {peak:.0f} MB with 200 MB in flight"
    for r in responses:
        httpx.delete(r.json()["status_url"])
