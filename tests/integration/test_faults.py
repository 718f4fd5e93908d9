"""Faults on the real stack (redis-server, API, Celery workers with the bundled model): no job is
left queued or processing for ever, whatever fails."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from core import keys
from core.audio_store import RedisAudioStore
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord
from tests.jobs import FIXTURES, long_recording, submit, wait_for_status
from tests.polling import eventually
from tests.services import ROOT, Process, service_env, start_api, start_redis, start_worker


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis_proc, self.url = start_redis(tmp)
        self.api_proc, self.base = start_api(self.url, tmp)
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self.redis = redis.Redis.from_url(self.url)
        self.workers: list[Process] = []

    def worker(self, name: str, **env: str) -> Process:
        # No warm-up clip: these tests are about faults, not a worker's first job (each start costs less).
        proc = start_worker(self.url, self.tmp, name, **{"ENDOSCRIBE_WARMUP": "false", **env})
        self.workers.append(proc)
        return proc

    def close(self) -> None:
        self.client.close()
        for proc in self.workers:
            proc.stop(signal.SIGKILL)
        self.api_proc.stop()
        self.redis_proc.stop()


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def test_a_job_stored_but_never_sent_is_sent_by_recovery(stack: Stack) -> None:
    # What the API leaves behind if it dies between storing a job and sending its task.
    job_id = str(uuid.uuid4())
    RedisAudioStore(stack.redis).put(job_id, [(FIXTURES / "colonoscopy.wav").read_bytes()])
    JobStore(stack.redis, 3600).create(JobRecord(id=job_id, created_at=utcnow()))
    worker = stack.worker("steady")
    job = wait_for_status(stack.client, job_id, timeout=120)
    assert job["status"] == "completed", job
    assert "queued with no task message; sent again" in worker.output()


def test_a_revoked_task_cancels_its_job_instead_of_leaving_it_queued(stack: Stack) -> None:
    worker = stack.worker("steady")
    job_id = str(uuid.uuid4())
    RedisAudioStore(stack.redis).put(job_id, [(FIXTURES / "colonoscopy.wav").read_bytes()])
    JobStore(stack.redis, 3600).create(JobRecord(id=job_id, created_at=utcnow()))
    app = Celery(broker=stack.url)
    # What Flower's "revoke" button does; the task id is the job id. A revoked id stays revoked in
    # the worker, so any later message for it is discarded unrun: the job must end, not wait.
    app.control.revoke(job_id)
    time.sleep(1)  # the revoke broadcast reaches the worker first
    app.send_task(keys.TRANSCRIBE_TASK, args=[job_id], queue=keys.TRANSCRIBE_QUEUE, task_id=job_id)

    job = wait_for_status(stack.client, job_id, timeout=60)
    assert job["status"] == "cancelled", job
    assert stack.redis.exists(keys.audio_key(job_id)) == 0
    assert worker.alive() and "its task was revoked; cancelled" in worker.output()


def test_redis_refusing_writes_mid_job_delays_the_job_but_never_wedges_it(stack: Stack) -> None:
    stack.worker("steady")
    # 60 s of audio: the job is mid-decode when the 6 s of refused writes begin.
    job_id = submit(stack.client, long_recording(4))["id"]
    wait_for_status(stack.client, job_id, {"processing"}, timeout=60)
    stack.redis.config_set("maxmemory", "1")  # every write now fails with OOM
    time.sleep(6)  # 6 s of refused writes: heartbeats, lease renewals and acks fail
    stack.redis.config_set("maxmemory", "0")

    # A worker that Celery stopped (its ack hit the same fault) is restarted, as compose would.
    def ended() -> bool:
        if stack.client.get(f"/v1/jobs/{job_id}").json()["status"] in {"completed", "failed"}:
            return True
        if not any(w.alive() for w in stack.workers):
            stack.worker(f"restarted{len(stack.workers)}")
        return False

    eventually(ended, 180, "the job's end", interval=0.5)
    job = stack.client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    assert stack.redis.exists(keys.audio_key(job_id)) == 0


def test_a_job_that_kills_its_workers_fails_worker_crashed_after_its_attempts(stack: Stack) -> None:
    victim = stack.worker("victim", ENDOSCRIBE_MAX_ATTEMPTS="1")
    job_id = submit(stack.client, long_recording(8))["id"]
    wait_for_status(stack.client, job_id, {"processing"}, timeout=60)
    victim.stop(signal.SIGKILL)  # what the OOM killer does

    rescuer = stack.worker("rescuer", ENDOSCRIBE_MAX_ATTEMPTS="1")
    job = wait_for_status(stack.client, job_id, timeout=120)
    assert (job["status"], job["attempts"], job["error"]["code"]) == ("failed", 1, "worker_crashed"), job
    assert stack.redis.exists(keys.audio_key(job_id)) == 0
    assert rescuer.alive() and "no attempts left" in rescuer.output()


def test_a_wedged_worker_stops_counting_as_alive_and_exits_for_its_supervisor(tmp_path: Path) -> None:
    redis_proc, url = start_redis(tmp_path)
    try:
        code = (
            "from core.settings import get_settings\n"
            "from worker.celery.heartbeat import Heartbeat\n"
            "from worker.celery.runtime import build_runtime\n"
            "runtime = build_runtime(get_settings())\n"
            "runtime.heartbeat = Heartbeat(runtime.redis, 'wedged@host', 5, lambda: {})\n"
            "runtime.heartbeat.start()\n"
            "runtime.exit_wedged()\n"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=service_env(url), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 70, done.stderr
        assert redis.Redis.from_url(url).exists(keys.worker_key("wedged@host")) == 0
    finally:
        redis_proc.stop()
