"""The batching scheduler's figures, each a ratio of two things run on this machine in this run.

    .venv/bin/python bench/batching.py [--clips 32] [--batch-size 4] [--rounds 2] [--skip p5|p3]

P5  32 short clips (10-60 s), all submitted at once through the whole system (API, Redis, one
    worker), against the same clips transcribed one at a time in-process (WhisperX's own
    `transcribe`, model loaded once, same batch size, the same default prompt and guard). Printed:
    in-process wall / system wall, for the scheduler and for the same worker held to one job at a
    time (ENDOSCRIBE_SCHEDULER_MAX_JOBS=1, what every worker did before the scheduler).
P3  A 3-second clip's latency, from the start of its upload to its `finished_at`, idle and with 1, 4
    and 16 such clips submitted together while long recordings keep the worker busy; p50 and p99
    against the same clip in-process and against one full batch of the long work in-process.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from bench.throughput import service_transcribe  # noqa: E402
from core.settings import WorkerSettings  # noqa: E402
from core.tuning import WorkerTuning  # noqa: E402
from tests.services import Process, start_api, start_redis, start_worker  # noqa: E402
from worker.model.decoding import SAMPLE_RATE, decode_audio  # noqa: E402
from worker.model.transcriber import DecodeRequest  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
SOURCES = ["colonoscopy.wav", "egd.wav", "summary.wav"]
# Quotas stay on (their checks are part of every request's cost) with limits this run never reaches.
OPEN_QUOTAS = {"ENDOSCRIBE_QUOTA_REQUEST_RATE": "100000/second", "ENDOSCRIBE_QUOTA_MAX_JOBS_IN_FLIGHT": "100000",
               "ENDOSCRIBE_QUOTA_MAX_QUEUE_DEPTH": "100000", "ENDOSCRIBE_QUOTA_MAX_AUDIO_HOURS_PER_DAY": "100000"}


def speech() -> np.ndarray:
    """The committed dictations end to end, 16 kHz mono float32."""
    tmp = Path(tempfile.gettempdir())
    return np.concatenate([decode_audio((FIXTURES / name).read_bytes(), 3600, tmp) for name in SOURCES])


def cut(source: np.ndarray, start_s: float, seconds: float) -> np.ndarray:
    """`seconds` of the source from `start_s`, wrapping around (clips longer than it repeat it)."""
    start, length = int(start_s * SAMPLE_RATE) % source.size, int(seconds * SAMPLE_RATE)
    reps = (start + length) // source.size + 1
    return np.tile(source, reps)[start:start + length]


def to_wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def short_clips(source: np.ndarray, count: int) -> list[bytes]:
    """`count` clips of 10 to 60 s, lengths spread evenly, each starting elsewhere in the source."""
    return [to_wav(cut(source, 7.3 * n, 10 + (n * 37) % 51)) for n in range(count)]


class InProcess:
    """The worker's model in this process: the baseline every ratio is taken against."""

    def __init__(self, batch_size: int) -> None:
        from worker.model.model_manager import ModelManager

        # WhisperX alone: every thread on one model replica (the worker splits them into decode lanes).
        self.models = ModelManager(WorkerSettings(tuning=WorkerTuning(batch_size=batch_size, decode_lanes=1)))
        self.models.load()
        self.models.warm_up()

    def transcribe(self, wav: bytes) -> None:
        service_transcribe(self.models, decode_audio(wav, 3600, Path(tempfile.gettempdir())))

    def one_by_one(self, clips: list[bytes]) -> float:
        started = time.perf_counter()
        for clip in clips:
            self.transcribe(clip)
        return time.perf_counter() - started

    def full_batch(self, source: np.ndarray, size: int) -> float:
        """Seconds for one batch of `size` 30-second windows: the most other work a clip should wait for."""
        from core.jobs import JobOptions
        from core.vocabulary import decoding_prompt

        prompt, hotwords = decoding_prompt(JobOptions(), WorkerSettings().vocabulary)
        requests = [DecodeRequest(cut(source, 11.0 * n, 29.5), "en", prompt, hotwords) for n in range(size)]
        started = time.perf_counter()
        self.models.decode(requests)
        return time.perf_counter() - started


class Stack:
    """redis-server, the API and one worker as real processes on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.redis, self.url = start_redis(tmp)
        self.api_proc, self.api = start_api(self.url, tmp, **OPEN_QUOTAS)
        self.client = httpx.Client(base_url=self.api, timeout=120)
        self.worker: Process | None = None

    def start_worker(self, batch_size: int, **env: str) -> None:
        self.stop_worker()
        self.worker = start_worker(self.url, self.tmp, "bench", ENDOSCRIBE_BATCH_SIZE=str(batch_size), **env)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def submit(self, wav: bytes, **form: str) -> tuple[str, float]:
        started = time.time()
        response = self.client.post("/v1/jobs", files={"file": ("clip.wav", wav)}, data=form)
        response.raise_for_status()
        return response.json()["id"], started

    def finished(self, job_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (job := self.client.get(f"/v1/jobs/{job_id}").json())["status"] not in {"completed", "failed"}:
            if time.monotonic() > deadline:
                raise TimeoutError(job)
            # Timing is read from `finished_at`, not from when the poll sees it: polling slowly keeps the
            # API and Redis off the two cores the worker needs.
            time.sleep(0.5)
        assert job["status"] == "completed", job
        return dict(job)

    def all_at_once(self, clips: list[bytes]) -> float:
        """Wall seconds from the first upload to the last job's end."""
        with ThreadPoolExecutor(8) as pool:
            submitted = list(pool.map(self.submit, clips))
        jobs = [self.finished(job_id) for job_id, _ in submitted]
        return max(_epoch(j["finished_at"]) for j in jobs) - min(t for _, t in submitted)

    def close(self) -> None:
        self.stop_worker()
        self.client.close()
        self.api_proc.stop()
        self.redis.stop()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def p5(stack: Stack, local: InProcess, clips: list[bytes], batch_size: int, rounds: int) -> None:
    audio = sum((len(c) - 44) / 2 / SAMPLE_RATE for c in clips)
    print(f"P5: {len(clips)} clips, {audio:.0f} s of audio, batch {batch_size}", flush=True)
    ratios: dict[str, list[float]] = {"scheduler": [], "one job at a time": []}
    for _ in range(rounds):
        alone = local.one_by_one(clips)
        print(f"  in-process one by one  {alone:6.1f} s  ({audio / alone:.1f}x realtime)", flush=True)
        for name, env in (("scheduler", {}), ("one job at a time", {"ENDOSCRIBE_SCHEDULER_MAX_JOBS": "1"})):
            stack.start_worker(batch_size, **env)
            wall = stack.all_at_once(clips)
            ratios[name].append(alone / wall)
            print(f"  system, {name:<17} {wall:6.1f} s  ({audio / wall:.1f}x realtime)  ratio {alone / wall:.2f}",
                  flush=True)
    for name, values in ratios.items():
        print(f"P5 {name}: in-process / system = {statistics.mean(values):.2f}  (rounds: "
              f"{', '.join(f'{v:.2f}' for v in values)})")


def p3(stack: Stack, local: InProcess, source: np.ndarray, batch_size: int) -> None:
    clip = to_wav(cut(source, 0.0, 3.0))
    long_job = to_wav(cut(source, 5.0, 240.0))
    alone = statistics.median(_timed(local.transcribe, clip) for _ in range(5))
    batch = statistics.median(local.full_batch(source, batch_size) for _ in range(3))
    print(f"P3: 3 s clip in-process {alone * 1000:.0f} ms; one full batch of long work ({batch_size} x 30 s) "
          f"{batch * 1000:.0f} ms", flush=True)
    stack.start_worker(batch_size)
    idle = [_latency(stack, [clip])[0] for _ in range(10)]
    _report("idle", idle, alone, batch)
    busy: list[str] = []
    for in_flight, repeats in ((1, 10), (4, 5), (16, 2)):
        latencies: list[float] = []
        for _ in range(repeats):
            _keep_busy(stack, busy, long_job)
            latencies += _latency(stack, [clip] * in_flight)
        _report(f"{in_flight:>2} in flight, long jobs running", latencies, alone, batch)
    for job_id in busy:
        stack.client.post(f"/v1/jobs/{job_id}/cancel")


def _keep_busy(stack: Stack, busy: list[str], long_job: bytes) -> None:
    """At least two long recordings being decoded (and so filling the batches) while clips are measured."""
    busy[:] = [j for j in busy if stack.client.get(f"/v1/jobs/{j}").json()["status"] in {"queued", "processing"}]
    while len(busy) < 2:
        busy.append(stack.submit(long_job)[0])
    # Decoding, not still in VAD: its speech found (VAD of minutes of audio competes for the CPU).
    deadline = time.monotonic() + 180
    while not stack.client.get(f"/v1/jobs/{busy[-1]}").json()["progress"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the long jobs never started")
        time.sleep(0.05)


def _latency(stack: Stack, clips: list[bytes]) -> list[float]:
    with ThreadPoolExecutor(len(clips)) as pool:
        submitted = list(pool.map(stack.submit, clips))
    return [_epoch(stack.finished(job_id)["finished_at"]) - started for job_id, started in submitted]


def _report(label: str, latencies: list[float], alone: float, batch: float) -> None:
    ordered = sorted(latencies)
    p50, p99 = statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.99) - 1)]
    print(f"  {label:<32} n={len(ordered):<3} p50 {p50 * 1000:6.0f} ms  p99 {p99 * 1000:6.0f} ms  "
          f"p50 - in-process {(p50 - alone) * 1000:+6.0f} ms  worst wait past in-process "
          f"{(ordered[-1] - alone) / batch:.2f} batches", flush=True)


def _timed(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip", choices=["p5", "p3"], action="append", default=[])
    args = parser.parse_args()
    source = speech()
    local = InProcess(args.batch_size)
    stack = Stack(Path(tempfile.mkdtemp(prefix="endoscribe-bench-")))
    try:
        if "p5" not in args.skip:
            p5(stack, local, short_clips(source, args.clips), args.batch_size, args.rounds)
        if "p3" not in args.skip:
            p3(stack, local, source, args.batch_size)
    finally:
        stack.close()


if __name__ == "__main__":
    main()
