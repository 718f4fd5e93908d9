"""Prometheus metrics on the real stack: the API's `/metrics` (its requests, and the cluster's queues and
jobs from Redis), a worker's and the webhook deliverer's own ports, several API processes summed."""

from __future__ import annotations

import threading
import time
import uuid
import wave
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.main import create_app
from core import keys
from core.settings import MetricsSettings, Settings
from tests.jobs import FIXTURES, submit, wait_for_status
from tests.metrics import Samples, delta, label_values, names, scrape, value
from tests.polling import NOT_LISTENING, eventually
from tests.receiver import Receiver
from tests.services import BIN, Process, free_port, service_env, start_deliverer

AUDIO = FIXTURES / "summary.ogg"


def silence(seconds: int = 3) -> bytes:
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 16000 * seconds)
    return out.getvalue()


@pytest.fixture(scope="module")
def deliverer_metrics_url(redis_url: str, service_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = start_deliverer(redis_url, service_dir, "deliverer-metrics", ENDOSCRIBE_METRICS_PORT=str(port))
    yield f"http://127.0.0.1:{port}/metrics"
    proc.stop()


def test_jobs_move_the_api_job_and_webhook_metrics(
    client: httpx.Client, api_url: str, deliverer_metrics_url: str,
) -> None:
    before = scrape(f"{api_url}/metrics")
    with Receiver() as receiver:
        completed = submit(client, AUDIO, filename="summary.ogg", callback_url=receiver.url)["id"]
        failed = submit(client, silence())["id"]
        assert wait_for_status(client, completed)["status"] == "completed"
        assert wait_for_status(client, failed)["error"]["code"] == "audio_silent"
        receiver.wait_for(1)
        eventually(lambda: value(scrape(deliverer_metrics_url), "endoscribe_webhook_attempts_total",
                                 result="delivered") == 1, 10, "the delivered attempt counted")
    missing = str(uuid.uuid4())
    assert client.get(f"/v1/jobs/{missing}").status_code == 404
    after = scrape(f"{api_url}/metrics")

    # No label carries a job id (nor a path with one in it).
    for samples in (after, scrape(deliverer_metrics_url)):
        assert not any(job_id in v for v in label_values(samples) for job_id in (completed, failed, missing))
        assert not any(v.startswith("/v1/jobs/") and "{" not in v for v in label_values(samples))

    # Jobs, from Redis: each counted once, as it was stored and as it ended.
    assert delta(before, after, "endoscribe_jobs_submitted_total", format="ogg") == 1
    assert delta(before, after, "endoscribe_jobs_submitted_total", format="wav") == 1
    assert delta(before, after, "endoscribe_jobs_ended_total", status="completed", error_code="") >= 1
    assert delta(before, after, "endoscribe_jobs_ended_total", status="failed", error_code="audio_silent") == 1
    assert delta(before, after, "endoscribe_job_queue_wait_seconds_count") >= 2
    assert delta(before, after, "endoscribe_job_processing_seconds_count") >= 2
    # Only the completed job has a realtime factor: the bundled tiny.en runs faster than real time.
    assert delta(before, after, "endoscribe_job_realtime_factor_count") >= 1
    assert value(after, "endoscribe_job_realtime_factor_bucket", le="1.0") < value(
        after, "endoscribe_job_realtime_factor_bucket", le="+Inf")
    # The cluster now: nothing left queued, the session's worker alive, the callback delivered.
    assert value(after, "endoscribe_redis_up") == 1
    assert value(after, "endoscribe_queue_messages", queue=keys.TRANSCRIBE_QUEUE) == 0
    assert value(after, "endoscribe_workers_alive") >= 1
    assert ("endoscribe_jobs_open", frozenset({("status", "queued")})) in after

    # Requests by route template and status; refusals by code.
    assert delta(before, after, "endoscribe_http_requests_total", method="POST", route="/v1/jobs", status="202") == 2
    assert delta(before, after, "endoscribe_http_requests_total",
                 method="GET", route="/v1/jobs/{job_id}", status="200") >= 2
    assert delta(before, after, "endoscribe_http_request_duration_seconds_count",
                 method="POST", route="/v1/jobs", status="202") == 2
    assert delta(before, after, "endoscribe_http_rejections_total",
                 route="/v1/jobs/{job_id}", status="404", code="not_found") == 1



def test_refusals_before_the_route_are_counted_by_template(client: httpx.Client, api_url: str) -> None:
    before = scrape(f"{api_url}/metrics")
    # Chunked uploads are refused by the request guard before any route runs.
    response = client.post("/v1/jobs", content=iter([b"x" * 10]), headers={"content-type": "multipart/form-data"})
    assert response.status_code == 411
    after = scrape(f"{api_url}/metrics")
    assert delta(before, after, "endoscribe_http_rejections_total",
                 route="/v1/jobs", status="411", code="length_required") == 1


def test_a_worker_serves_its_own_metrics(worker: Process, worker_metrics_port: int) -> None:
    samples = scrape(f"http://127.0.0.1:{worker_metrics_port}/metrics")
    assert value(samples, "endoscribe_worker_model_load_seconds_count") == 1
    assert value(samples, "endoscribe_worker_oom_halvings_total") == 0
    assert "endoscribe_worker_batch_fill_ratio_count" in names(samples)
    # No CUDA here: no GPU series rather than made-up zeros.
    assert "endoscribe_worker_gpu_memory_used_bytes" not in names(samples)


class LiveApi:
    """The app built from `settings`, served by uvicorn in a thread of this process on a loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        if settings.api_keys and not settings.public_url:  # required with keys: URLs never come from Host
            settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{self.port}"})
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        eventually(lambda: self.server.started, 10, "api", interval=0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_metrics_need_the_metrics_token_in_production(redis_url: str) -> None:
    production = Settings(redis_url=redis_url, dev_mode=False, api_keys=["clinic-key"],
                          metrics=MetricsSettings(token="scrape-token"))
    with LiveApi(production) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401
        # An API key reads jobs; it is not what a scraper holds.
        assert httpx.get(f"{base}/metrics", headers={"authorization": "Bearer clinic-key"}).status_code == 401
        assert value(scrape(f"{base}/metrics", token="scrape-token"), "endoscribe_redis_up") == 1
    # Without a token, production serves no metrics at all.
    with LiveApi(production.model_copy(update={"metrics": MetricsSettings()})) as base:
        response = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer anything"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "metrics_disabled"


def test_several_api_processes_are_summed_in_every_scrape(redis_url: str, tmp_path: Path) -> None:
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = free_port()
    proc = Process([str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
                   service_env(redis_url, PROMETHEUS_MULTIPROC_DIR=str(multiproc)), tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{base}/health").status_code == 200, 30, "api", ignoring=NOT_LISTENING)
        requests = 0

        def ask(count: int) -> None:
            for _ in range(count):  # a new connection each time, so the processes share them
                assert httpx.get(f"{base}/v1/jobs/{uuid.uuid4()}").status_code == 404

        def served_by() -> set[str]:
            return {f.stem.rsplit("_", 1)[1] for f in multiproc.glob("counter_*.db")}

        # /health answers once one process listens; the second may still be starting (seen under load, when
        # the first took every connection): rounds of 30 requests until both have answered some.
        deadline = time.monotonic() + 60
        while len(served_by()) < 2 and time.monotonic() < deadline:
            threads = [threading.Thread(target=ask, args=(5,)) for _ in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            requests += 30
        assert len(served_by()) >= 2, f"one process answered everything ({served_by()}); the test proves nothing"
        scrapes: list[Samples] = [scrape(f"{base}/metrics") for _ in range(6)]
    finally:
        proc.stop()
    for samples in scrapes:
        assert value(samples, "endoscribe_http_rejections_total",
                     route="/v1/jobs/{job_id}", status="404", code="not_found") == requests
        # The cluster's figures come from Redis once per scrape, not once per process.
        assert value(samples, "endoscribe_redis_up") == 1
