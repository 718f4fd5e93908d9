"""`/gpu-info` and `/ready` follow real workers' heartbeats: they appear when warm and vanish when gone."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.polling import eventually
from tests.services import start_api, start_redis, start_worker
from worker.celery.heartbeat import Heartbeat

DIAGNOSTIC_FIELDS = {
    "pytorch_version", "cuda_available", "mps_available", "device", "whisperx_device", "cuda_version", "gpu_name",
    "gpu_memory_total_gb", "gpu_memory_allocated_gb", "gpu_memory_reserved_gb", "gpu_count",
    "worker", "model", "compute_type", "batch_size", "jobs_done", "last_seen", "telemetry",
}


@pytest.fixture(scope="module")
def lone_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A Redis and an API with no worker yet (the session worker uses another Redis)."""
    tmp = tmp_path_factory.mktemp("lone")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp)
    yield url, base, tmp
    api_proc.stop()
    redis_proc.stop()


def test_a_worker_appears_when_ready_and_disappears_when_it_stops(lone_stack: tuple[str, str, Path]) -> None:
    url, base, tmp = lone_stack
    assert httpx.get(f"{base}/gpu-info").json() == {"workers": []}
    not_ready = httpx.get(f"{base}/ready")
    assert not_ready.status_code == 503 and "no transcription worker" in not_ready.json()["error"]["message"]

    # An environment that asks for telemetry: the worker must switch it off regardless.
    worker = start_worker(url, tmp, "beat", PYANNOTE_METRICS_ENABLED="true", OTEL_SDK_DISABLED="false",
                          HF_HUB_DISABLE_TELEMETRY="0", DO_NOT_TRACK="0")
    try:
        workers = httpx.get(f"{base}/gpu-info").json()["workers"]
        assert len(workers) == 1
        entry = workers[0]
        assert DIAGNOSTIC_FIELDS <= set(entry)
        assert entry["worker"].startswith("beat@")
        assert (entry["device"], entry["whisperx_device"], entry["cuda_available"]) == ("cpu", "cpu", False)
        assert (entry["model"], entry["compute_type"], entry["batch_size"]) == ("tiny.en (bundled)", "int8", 4)
        assert entry["pytorch_version"].startswith("2.")
        # Read from pyannote and huggingface_hub themselves, after the VAD model loaded and warmed up.
        assert entry["telemetry"] == {"pyannote_metrics": False, "opentelemetry_sdk": False,
                                      "huggingface_telemetry": False}
        assert httpx.get(f"{base}/ready").json() == {"status": "ready", "workers": 1}
        assert "GPU DIAGNOSTICS" in worker.output()
    finally:
        worker.stop(signal.SIGTERM)
    # A clean shutdown removes the heartbeat at once.
    assert httpx.get(f"{base}/gpu-info").json() == {"workers": []}
    assert httpx.get(f"{base}/ready").status_code == 503


def test_a_killed_worker_expires_from_gpu_info(lone_stack: tuple[str, str, Path]) -> None:
    url, base, tmp = lone_stack
    worker = start_worker(url, tmp, "crash")
    assert len(httpx.get(f"{base}/gpu-info").json()["workers"]) == 1
    worker.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    # Heartbeat every 1 s with a 3-beat TTL: gone within ~3 s of the last beat.
    eventually(lambda: httpx.get(f"{base}/gpu-info").json() == {"workers": []}, 10, "the killed worker gone")
    assert time.monotonic() - killed_at <= 8


def test_a_worker_with_alignment_on_but_no_punkt_tab_stops_at_start_up(lone_stack: tuple[str, str, Path]) -> None:
    url, base, tmp = lone_stack
    nltk = pytest.importorskip("nltk")
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        pytest.skip("punkt_tab is installed system-wide here; NLTK_DATA cannot hide it")
    except LookupError:
        pass
    empty = tmp / "no-nltk-data"
    empty.mkdir(exist_ok=True)
    # Not at its first job, where WhisperX would call nltk.download: at start-up, saying what to do.
    with pytest.raises(RuntimeError, match="exited") as exited:
        start_worker(url, tmp, "align", ENDOSCRIBE_ALIGN="true", NLTK_DATA=str(empty))
    assert "needs NLTK's punkt_tab on disk" in str(exited.value)
    assert httpx.get(f"{base}/gpu-info").json() == {"workers": []}


def test_ready_and_gpu_info_read_the_worker_registry_without_scanning(lone_stack: tuple[str, str, Path]) -> None:
    url, base, _ = lone_stack
    client = redis.Redis.from_url(url)
    # A live worker's beat, as worker.celery.heartbeat writes it, and a keyspace that would make SCANs costly.
    Heartbeat(client, "solo@host", 5, lambda: {"device": "cpu"}).beat()
    client.mset({f"{keys.PREFIX}:filler:{i}": "x" for i in range(2000)})
    client.config_resetstat()

    assert httpx.get(f"{base}/ready").json() == {"status": "ready", "workers": 1}
    assert [w["worker"] for w in httpx.get(f"{base}/gpu-info").json()["workers"]] == ["solo@host"]

    stats = client.info("commandstats")
    assert "cmdstat_scan" not in stats and "cmdstat_keys" not in stats, stats
    client.delete(keys.worker_key("solo@host"), keys.WORKERS)


def test_gpu_info_needs_a_key_when_keys_are_set(tmp_path: Path) -> None:
    redis_proc, url = start_redis(tmp_path)
    api_proc, base = start_api(url, tmp_path, ENDOSCRIBE_API_KEYS='["k1"]')
    try:
        refused = httpx.get(f"{base}/gpu-info")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert httpx.get(f"{base}/gpu-info", headers={"Authorization": "Bearer k1"}).json() == {"workers": []}
        assert httpx.get(f"{base}/health").status_code == 200  # liveness stays open for load balancers
    finally:
        api_proc.stop()
        redis_proc.stop()
