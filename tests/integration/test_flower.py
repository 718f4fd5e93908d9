"""Flower, for real: behind basic auth, showing the live worker and finished tasks with only job ids."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs import FIXTURES, submit, wait_for_status
from tests.services import BIN, Process, free_port, service_env, wait_for

AUTH = ("ops", "flower-test-pass")


@pytest.fixture()
def flower(redis_url: str, service_dir: Path, worker: Process) -> Iterator[str]:
    port = free_port()
    proc = Process(
        [str(BIN / "celery"), "-A", "worker.celery_app", "flower", f"--port={port}", "--address=127.0.0.1"],
        service_env(redis_url, FLOWER_BASIC_AUTH=":".join(AUTH)), service_dir / "flower.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthcheck").status_code == 200, 30, "flower")
        yield base
    finally:
        proc.stop()


def test_flower_requires_basic_auth(flower: str) -> None:
    assert httpx.get(f"{flower}/api/workers").status_code == 401
    assert httpx.get(f"{flower}/api/workers", auth=("ops", "wrong")).status_code == 401
    assert httpx.get(f"{flower}/", auth=AUTH).status_code == 200


def test_flower_shows_the_worker_and_a_finished_task_without_patient_data(
    flower: str, client: httpx.Client
) -> None:
    job_id = submit(client, FIXTURES / "summary.ogg", filename="dr-smith-patient-jones.ogg")["id"]
    assert wait_for_status(client, job_id)["status"] == "completed"
    transcript = client.get(f"/v1/jobs/{job_id}/result", params={"format": "txt"}).text

    workers = httpx.get(f"{flower}/api/workers", auth=AUTH, params={"refresh": "true"}, timeout=30).json()
    assert any(name.startswith("e2e@") for name in workers), workers

    deadline = time.monotonic() + 20
    while True:
        task = httpx.get(f"{flower}/api/task/info/{job_id}", auth=AUTH)
        if task.status_code == 200 and task.json().get("state") == "SUCCESS":
            break
        assert time.monotonic() < deadline, task.text
        time.sleep(0.3)
    info = task.json()
    assert info["name"] == "endoscribe.transcribe"
    assert info["args"] == f"['{job_id}']"
    assert info["result"] == "'completed'"
    shown = httpx.get(f"{flower}/api/tasks", auth=AUTH).text
    assert "dr-smith" not in shown
    for word in transcript.split():
        if len(word) > 6:
            assert word.strip(".,").lower() not in shown.lower()
