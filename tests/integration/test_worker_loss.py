"""A worker killed mid-job: its lease lapses, another worker requeues the job and finishes it."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.jobs import long_recording, submit, wait_for_status
from tests.services import start_api, start_redis, start_worker


def test_a_job_whose_worker_dies_is_finished_by_another(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("loss")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp)
    victim = start_worker(url, tmp, "victim")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            job_id = submit(client, long_recording(8))["id"]
            wait_for_status(client, job_id, {"processing"}, timeout=60)
            victim.stop(signal.SIGKILL)
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "processing"

            rescuer = start_worker(url, tmp, "rescuer")
            try:
                job = wait_for_status(client, job_id, timeout=120)
            finally:
                rescuer.stop()
            assert job["status"] == "completed", job
            assert job["worker"].startswith("rescuer@")
            assert "requeued" in rescuer.output()
            assert client.get(f"/v1/jobs/{job_id}/result").json()["text"]
    finally:
        victim.stop()
        api_proc.stop()
        redis_proc.stop()
