"""An object-store outage is retried, never final: moto's S3 server behind a gate that can be shut.

While the store is down, a worker puts the job it could not read back in the queue (no failure, no
callback, the attempt given back, the audio kept, the audio sweep leaves it), recovery sends it again,
and it completes once the store is back; an upload gets 503 `storage_unavailable` with Retry-After.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
import redis
from botocore.config import Config

from core import keys
from core.errors import StorageUnavailable
from core.job_store import JobStore, utcnow
from core.jobs import JobOptions, JobRecord, JobStatus
from core.s3_audio_store import S3AudioStore
from core.webhook_records import WebhookConfig
from tests.fakes import Harness, tone_wav
from tests.jobs import FIXTURES, wait_for_status
from tests.polling import eventually
from tests.services import S3_ENV, s3_api_env, s3_client, start_api, start_redis, start_worker
from tests.tcp_gate import TcpGate
from worker.jobs.recovery import sweep
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job


@pytest.fixture()
def gate(s3_endpoint: str) -> Iterator[TcpGate]:
    gate = TcpGate(int(s3_endpoint.rsplit(":", 1)[1])).open()
    yield gate
    gate.close()


def store_at(endpoint: str, prefix: str, **options: Any) -> S3AudioStore:
    # One try per call: the outage is seen in milliseconds, not after botocore's retries.
    client = boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_REGION"],
                          aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
                          config=Config(retries={"max_attempts": 1}))
    return S3AudioStore(client, "audio", prefix, **options)


def submit_to_s3(harness: Harness, audio: S3AudioStore) -> str:
    job_id = str(uuid.uuid4())
    audio.put(job_id, [tone_wav()])
    harness.store.create(JobRecord(id=job_id, created_at=utcnow(), options=JobOptions()),
                         WebhookConfig(url="https://ehr.example.org/hook"))
    return job_id


def test_an_unreachable_store_is_unavailable(gate: TcpGate) -> None:
    gate.close()
    store = store_at(gate.url, "unreachable")

    for call in (lambda: store.get("job-1"), lambda: store.put("job-1", [b"RIFF"]),
                 lambda: store.sweep(lambda _: False)):
        with pytest.raises(StorageUnavailable):
            call()


def test_a_job_whose_audio_store_is_down_goes_back_to_the_queue_with_its_audio(
    clean_redis: redis.Redis, gate: TcpGate,
) -> None:
    harness = Harness(clean_redis)
    prefix = f"outage-{time.monotonic_ns()}"
    audio = store_at(gate.url, prefix)
    job_id = submit_to_s3(harness, audio)
    ctx = harness.context()
    ctx.store = JobStore(clean_redis, 3600, audio)
    gate.close()

    assert run_job(job_id, ctx) is RunOutcome.ABANDONED

    record = harness.store.get(job_id)
    assert (record.status, record.stage, record.attempts, record.error, record.worker) == (
        JobStatus.QUEUED, "queued", 0, None, None)
    assert clean_redis.exists(keys.lease_key(job_id)) == 0
    assert clean_redis.zscore(keys.WEBHOOK_DUE, job_id) is None  # no callback: nothing ended
    assert clean_redis.zscore(keys.OPEN_JOBS, job_id) is not None
    # Its audio is kept, and the audio sweep (whatever the object's age) leaves it alone.
    gate.open()
    assert store_at(gate.url, prefix, pending_seconds=0).sweep(harness.store.is_open) == 0
    assert audio.get(job_id) == tone_wav()

    # Recovery sends it again (after its grace period: not at once, so a down store is not hammered).
    sent: list[str] = []
    assert sweep(harness.store, sent.append, set, 3, grace_seconds=60).resent == []
    assert sweep(harness.store, sent.append, set, 3, grace_seconds=0, now=time.time() + 1).resent == [job_id]
    assert run_job(job_id, ctx) is RunOutcome.COMPLETED
    record = harness.store.get(job_id)
    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 1)
    assert clean_redis.zscore(keys.WEBHOOK_DUE, job_id) is not None
    assert audio.get(job_id) is None  # deleted once the job ended


def test_a_store_outage_spends_no_attempts(clean_redis: redis.Redis, gate: TcpGate) -> None:
    harness = Harness(clean_redis)
    audio = store_at(gate.url, f"attempts-{time.monotonic_ns()}")
    job_id = submit_to_s3(harness, audio)
    ctx = harness.context()
    ctx.store = JobStore(clean_redis, 3600, audio)
    gate.close()

    # More outages than a job has attempts: still queued, never `worker_crashed`.
    for _ in range(harness.settings.max_attempts + 2):
        assert run_job(job_id, ctx) is RunOutcome.ABANDONED
        sweep(harness.store, lambda _: None, set, harness.settings.max_attempts, grace_seconds=0,
              now=time.time() + 1)
    gate.open()

    assert run_job(job_id, ctx) is RunOutcome.COMPLETED
    assert harness.store.get(job_id).attempts == 1


def test_a_store_outage_outside_a_jobs_run_gives_the_round_up(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ending a live session writes its audio to the store from the round, outside any one job's run.
    harness = Harness(clean_redis)
    job_id = harness.submit()

    def store_down(*_: object, **__: object) -> list[object]:
        raise StorageUnavailable("the audio store is unavailable; nothing was lost, try again in a moment", 5)

    monkeypatch.setattr("worker.live.desk.LiveDesk.poll", store_down)

    assert run_job(job_id, harness.context()) is RunOutcome.ABANDONED
    record = harness.store.get(job_id)
    assert (record.status, record.error) == (JobStatus.PROCESSING, None)
    assert clean_redis.exists(keys.lease_key(job_id)) == 0  # released: recovery requeues it at once
    assert clean_redis.zscore(keys.WEBHOOK_DUE, job_id) is None


def test_a_real_worker_and_api_ride_out_an_audio_store_outage(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, gate: TcpGate,
) -> None:
    tmp = tmp_path_factory.mktemp("outage")
    redis_proc, url = start_redis(tmp)
    api, base = start_api(url, tmp, **s3_api_env(gate.url))
    worker = None
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            recording = (FIXTURES / "colonoscopy.wav").read_bytes()
            gate.close()
            refused = client.post("/v1/jobs", files={"file": ("a.wav", recording)})
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "storage_unavailable"
            assert int(refused.headers["retry-after"]) >= 1
            assert "Traceback" not in api.output()

            gate.open()
            job_id = client.post("/v1/jobs", files={"file": ("a.wav", recording)}).json()["id"]
            gate.close()  # down before any worker reads the audio
            worker = start_worker(url, tmp, "outage", ENDOSCRIBE_WARMUP="false",
                                  **s3_api_env(gate.url))
            eventually(lambda: "audio store is unavailable" in worker.output(), 90, "the worker's first try")
            job = client.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] in {"queued", "processing"} and job["error"] is None, job

            gate.open()
            job = wait_for_status(client, job_id, timeout=180)
            assert (job["status"], job["attempts"]) == ("completed", 1), job
            assert client.get(f"/v1/jobs/{job_id}/result").json()["text"]
            assert "Traceback" not in worker.output()
            # Deleted right after the job's end transaction (which the poll may see first).
            eventually(lambda: not s3_client(s3_endpoint).list_objects_v2(Bucket="audio").get("Contents"),
                       10, "the job's audio deleted")
    finally:
        if worker is not None:
            worker.stop()
        api.stop()
        redis_proc.stop()

