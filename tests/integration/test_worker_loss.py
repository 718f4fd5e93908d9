"""A worker killed mid-batch: the leases of every job its round held lapse, another worker requeues them
and finishes each one."""

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
    # No warm-up clip: neither worker's first job is what this test times or checks.
    victim = start_worker(url, tmp, "victim", ENDOSCRIBE_WARMUP="false")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            # Submitted together, so the victim's round takes all three (its batches mix their windows).
            # 45, 45 and 30 s: far more than the moment between their all being processing and the kill,
            # and every second of them is decoded again by the rescuer.
            job_ids = [submit(client, long_recording(n))["id"] for n in (3, 3, 2)]
            for job_id in job_ids:
                wait_for_status(client, job_id, {"processing", "completed"}, timeout=60)
            victim.stop(signal.SIGKILL)
            held = [j for j in job_ids if client.get(f"/v1/jobs/{j}").json()["status"] == "processing"]
            assert len(held) >= 2, "the victim's round should have held several jobs when it died"

            rescuer = start_worker(url, tmp, "rescuer", ENDOSCRIBE_WARMUP="false")
            try:
                jobs = [wait_for_status(client, job_id, timeout=180) for job_id in job_ids]
            finally:
                rescuer.stop()
            for job in jobs:
                assert job["status"] == "completed", job
                assert client.get(f"/v1/jobs/{job['id']}/result").json()["text"]
                if job["id"] in held:
                    assert job["worker"].startswith("rescuer@") and job["attempts"] == 2
            assert "requeued" in rescuer.output()
    finally:
        victim.stop()
        api_proc.stop()
        redis_proc.stop()
