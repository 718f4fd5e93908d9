"""Throughput of the whole system against WhisperX in-process, on the same files in one run.

    .venv/bin/python bench/throughput.py [--repeat N] [--rounds R]

1. In-process: the worker's own ModelManager and WhisperX's `transcribe`, model loaded once and warmed
   up, files decoded and transcribed in a loop with what a job gets by default (the built-in
   vocabulary as prompt, the truncation guard).
2. System: a redis-server, the API (uvicorn) and one worker (Celery, solo pool) as real processes on
   loopback; every file submitted over HTTP at once, timed from the first submit to the last job's
   finished_at.
Then the API's submit latency (POST /v1/jobs with a 22 kB file) at 1 and 32 concurrent clients,
with the worker stopped so the figures are the API's and Redis's own.

Prints both throughputs (audio seconds per wall second, i.e. x realtime) and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from core.settings import WorkerSettings  # noqa: E402
from core.tuning import WorkerTuning  # noqa: E402
from tests.services import start_api, start_redis, start_worker  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
FILES = ["colonoscopy.wav", "egd.flac", "summary.mp3", "summary.ogg", "summary.m4a", "egd.wav"]


def corpus(repeat: int) -> list[tuple[str, bytes]]:
    return [(name, (FIXTURES / name).read_bytes()) for _ in range(repeat) for name in FILES]


def service_transcribe(models: Any, audio: Any) -> None:
    """What a worker does to a job with default options, in-process: the same decoding prompt (the
    built-in endoscopy vocabulary) and truncation guard, over WhisperX's own `transcribe`."""
    from core.jobs import JobOptions
    from core.vocabulary import decoding_prompt
    from worker.text import vocabulary_guard

    vocabulary = WorkerSettings().vocabulary
    prompt, hotwords = decoding_prompt(JobOptions(), vocabulary)
    vocabulary_guard.transcribe_guarded(models, audio, language=models.language, initial_prompt=prompt,
                                        hotwords=hotwords, progress_callback=lambda _: None,
                                        enabled=vocabulary.tuning.truncation_guard)


def in_process(files: list[tuple[str, bytes]]) -> tuple[float, float]:
    """(audio seconds, wall seconds) for the loop."""
    from worker.model.decoding import decode_audio
    from worker.model.model_manager import ModelManager
    from worker.model.pipeline import SAMPLE_RATE

    # WhisperX alone: all threads on one replica.
    models = ModelManager(WorkerSettings(tuning=WorkerTuning(decode_lanes=1)))
    models.load()
    models.warm_up()
    assert models.runtime is not None
    audio_seconds = 0.0
    started = time.perf_counter()
    for _, data in files:
        audio = decode_audio(data, 14400, Path(tempfile.gettempdir()))
        audio_seconds += audio.size / SAMPLE_RATE
        service_transcribe(models, audio)
    wall = time.perf_counter() - started
    models.unload()
    return audio_seconds, wall


def through_system(files: list[tuple[str, bytes]], api: str) -> tuple[float, float]:
    with httpx.Client(base_url=api, timeout=60) as client:
        t0 = time.time()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda f: client.post("/v1/jobs", files={"file": f}).json()["id"], files))
        jobs = []
        for job_id in ids:
            while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in {"completed", "failed"}:
                time.sleep(0.5)  # the time is `finished_at`'s: a slow poll keeps the cores for the worker
            assert job["status"] == "completed", job
            jobs.append(job)
    last = max(datetime.fromisoformat(j["finished_at"]).timestamp() for j in jobs)
    return sum(j["audio_seconds"] for j in jobs), last - t0


def submit_latency(api: str, clients: int, requests: int) -> tuple[float, float, float]:
    data = (FIXTURES / "summary.ogg").read_bytes()

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(base_url=api, timeout=60, limits=limits) as client:

        def one(_: int) -> float:
            started = time.perf_counter()
            response = client.post("/v1/jobs", files={"file": ("a.ogg", data)})
            assert response.status_code == 202
            return time.perf_counter() - started

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one, range(clients)))  # open the connections before timing
            started = time.perf_counter()
            latencies = sorted(pool.map(one, range(requests)))
            rate = requests / (time.perf_counter() - started)
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="how many times the fixture set is transcribed")
    parser.add_argument("--rounds", type=int, default=2, help="alternating in-process/system rounds")
    parser.add_argument("--latency-requests", type=int, default=320)
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput comparison")
    args = parser.parse_args()
    files = corpus(args.repeat)
    tmp = Path(tempfile.mkdtemp(prefix="endoscribe-bench-"))
    redis_proc, url = start_redis(tmp)
    # The latency phase queues ~700 jobs as fast as 32 clients can: quotas stay on (their checks are part
    # of what a submission costs) with limits this run never reaches.
    api_proc, api = start_api(url, tmp, ENDOSCRIBE_QUOTA_REQUEST_RATE="100000/second",
                              ENDOSCRIBE_QUOTA_MAX_JOBS_IN_FLIGHT="100000", ENDOSCRIBE_QUOTA_MAX_QUEUE_DEPTH="100000")
    results: dict[str, list[float]] = {"in-process": [], "system": []}
    try:
        for _ in range(0 if args.latency_only else args.rounds):
            audio, wall = in_process(files)
            results["in-process"].append(audio / wall)
            print(f"in-process: {audio:.1f} s of audio in {wall:.2f} s = {audio / wall:.1f}x realtime", flush=True)
            worker = start_worker(url, tmp, "bench")
            try:
                audio, wall = through_system(files, api)
            finally:
                worker.stop()
            results["system"].append(audio / wall)
            print(f"system:     {audio:.1f} s of audio in {wall:.2f} s = {audio / wall:.1f}x realtime", flush=True)
        if results["system"]:
            inproc, system = statistics.mean(results["in-process"]), statistics.mean(results["system"])
            print(f"\nthroughput  in-process {inproc:.1f}x  system {system:.1f}x  ratio system/in-process "
                  f"{system / inproc:.3f}  (target >= 0.95)")
        for clients in (1, 32, 64):
            p50, p99, rate = submit_latency(api, clients, args.latency_requests)
            # Little's law: with every client always waiting, mean latency = clients / throughput.
            print(f"submit latency, {clients:>2} concurrent clients: p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
                  f"{rate:.0f} submissions/s (so mean latency >= {clients / rate * 1000:.0f} ms at this rate)")
    finally:
        api_proc.stop()
        redis_proc.stop()


if __name__ == "__main__":
    main()
