"""Flower, for real: behind basic auth (`/metrics` too), read-only unless asked, showing the live worker
and finished tasks with only job ids; a task revoked there ends its job."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core import keys
from tests.jobs import FIXTURES, long_recording, submit, wait_for_status
from tests.polling import NOT_LISTENING, eventually
from tests.services import BIN, Process, free_port, service_env

AUTH = ("ops", "flower-test-pass")


@pytest.fixture(scope="module")
def start_flower(redis_url: str, service_dir: Path, worker: Process) -> Iterator[Callable[..., str]]:
    """Starts Flower as compose and fly do (with `worker/flowerconfig.py`); returns its base URL. Every
    Flower started lives until the module's tests are done."""
    procs: list[Process] = []

    def start(**env: str) -> str:
        port = free_port()
        procs.append(Process(
            [str(BIN / "celery"), "-A", "worker.celery_app", "flower", "--conf=worker/flowerconfig.py",
             f"--port={port}", "--address=127.0.0.1"],
            service_env(redis_url, FLOWER_BASIC_AUTH=":".join(AUTH), **env), service_dir / f"flower-{port}.log",
        ))
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: httpx.get(f"{base}/healthcheck").status_code == 200, 30, "flower", ignoring=NOT_LISTENING)
        return base

    yield start
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="module")
def flower(start_flower: Callable[..., str]) -> str:
    """Flower as deployed: the login, and read-only."""
    return start_flower()


def test_flower_requires_basic_auth(flower: str) -> None:
    assert httpx.get(f"{flower}/api/workers").status_code == 401
    assert httpx.get(f"{flower}/api/workers", auth=("ops", "wrong")).status_code == 401
    assert httpx.get(f"{flower}/", auth=AUTH).status_code == 200
    # Flower serves /metrics without a login on purpose; its config file puts it behind one.
    assert httpx.get(f"{flower}/metrics").status_code == 401
    metrics = httpx.get(f"{flower}/metrics", auth=AUTH)
    assert metrics.status_code == 200 and "flower_" in metrics.text
    assert httpx.get(f"{flower}/healthcheck").text == "OK"  # what compose's health check reads


def test_the_dashboard_login_can_neither_revoke_tasks_nor_stop_workers_by_default(
    flower: str, client: httpx.Client, worker: Process
) -> None:
    job_id = submit(client, FIXTURES / "summary.ogg")["id"]
    workers = httpx.get(f"{flower}/api/workers", auth=AUTH, params={"refresh": "true"}, timeout=30).json()
    [name] = [w for w in workers if w.startswith("e2e@")]

    for action in (f"task/revoke/{job_id}?terminate=true", f"worker/shutdown/{name}",
                   f"worker/pool/restart/{name}", f"task/send-task/{keys.TRANSCRIBE_TASK}"):
        answer = httpx.post(f"{flower}/api/{action}", auth=AUTH, json={"args": [job_id]})
        assert answer.status_code == 403, (action, answer.text)

    assert wait_for_status(client, job_id)["status"] == "completed"
    assert worker.alive()


def test_flower_shows_the_worker_and_a_finished_task_without_patient_data(
    flower: str, client: httpx.Client
) -> None:
    job_id = submit(client, FIXTURES / "summary.ogg", filename="dr-smith-patient-jones.ogg")["id"]
    assert wait_for_status(client, job_id)["status"] == "completed"
    transcript = client.get(f"/v1/jobs/{job_id}/result", params={"format": "txt"}).text

    workers = httpx.get(f"{flower}/api/workers", auth=AUTH, params={"refresh": "true"}, timeout=30).json()
    assert any(name.startswith("e2e@") for name in workers), workers

    def succeeded() -> httpx.Response | None:
        task = httpx.get(f"{flower}/api/task/info/{job_id}", auth=AUTH)
        return task if task.status_code == 200 and task.json().get("state") == "SUCCESS" else None

    info = eventually(succeeded, 20, "the task's SUCCESS in Flower").json()
    assert info["name"] == "endoscribe.transcribe"
    assert info["args"] == f"['{job_id}']"
    # A round seeded by one job also claims whatever else is ready: when the previous test's round was
    # still winding down, it ran this job, and this job's own task found it done ("skipped").
    assert info["result"] in {"'completed'", "'skipped'"}, info["result"]
    shown = httpx.get(f"{flower}/api/tasks", auth=AUTH).text
    assert "dr-smith" not in shown
    for word in transcript.split():
        if len(word) > 6:
            assert word.strip(".,").lower() not in shown.lower()


def test_revoking_and_terminating_a_running_task_in_flower_cancels_its_job(
    start_flower: Callable[..., str], client: httpx.Client, worker: Process
) -> None:
    flower = start_flower(FLOWER_READ_ONLY="false")
    job_id = submit(client, long_recording(8), filename="long.wav")["id"]
    wait_for_status(client, job_id, {"processing"}, timeout=60)

    # Flower's "Terminate" button. The solo pool runs the task inside the worker's message loop, so
    # the worker reads the terminate only once the task is over; the job must end anyway, cancelled.
    answer = httpx.post(f"{flower}/api/task/revoke/{job_id}", auth=AUTH, params={"terminate": "true"})
    assert answer.status_code == 200, answer.text

    job = wait_for_status(client, job_id, timeout=120)
    assert job["status"] == "cancelled", job
    assert worker.alive()
    # The worker is free again: the next job runs to the end.
    next_id = submit(client, FIXTURES / "summary.ogg")["id"]
    assert wait_for_status(client, next_id, timeout=120)["status"] == "completed"
