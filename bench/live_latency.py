"""Live dictation figures: finalization latency and the accuracy of the assembled session text.

    .venv/bin/python bench/live_latency.py [--sessions 1 4] [--file-jobs 2] [--speed 1.0]

For each count of concurrent sessions, every session streams a fixture dictation (colonoscopy, egd,
alternating) in 200 ms chunks at `--speed` times real time through the whole system (API under
uvicorn, Redis, one worker with the bundled model) while `--file-jobs` long recordings keep the
worker busy. Latency of a final: the moment it arrives minus the moment the audio up to its `end`
had been sent. Accuracy: the WER of the session's finals joined, and of its job's result, against the
fixture's script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from tests.e2e.test_transcription import word_error_rate  # noqa: E402
from tests.jobs import FIXTURES, long_recording, reference, submit, wait_for_status  # noqa: E402
from tests.live import LiveClient, chunks, fixture_pcm  # noqa: E402
from tests.services import start_api, start_redis, start_worker  # noqa: E402

NAMES = ("colonoscopy", "egd")


def one_session(client: httpx.Client, name: str, speed: float, out: list[dict[str, object]]) -> None:
    session = client.post("/v1/sessions", json={}).json()
    live = LiveClient(session["stream_url"])
    pieces = chunks(fixture_pcm(FIXTURES / f"{name}.wav"))
    started = time.monotonic()
    for n, piece in enumerate(pieces):
        # Real time: chunk n leaves when its audio would have been spoken.
        time.sleep(max(0.0, started + n * 0.2 / speed - time.monotonic()))
        live.ws.send(piece)
    live.end(timeout=300)
    latencies = [arrived - (started + float(m["end"]) / speed)
                 for m, arrived in zip(live.messages, live.arrived, strict=True) if m["type"] == "final"]
    text = " ".join(str(m["text"]) for m in live.messages if m["type"] == "final")
    job = wait_for_status(client, session["job_id"], timeout=600)
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()["text"] if job["status"] == "completed" else ""
    out.append({"name": name, "latencies": latencies, "live_wer": word_error_rate(reference(name), text),
                "job_wer": word_error_rate(reference(name), result), "lagging": len(live.of("lagging"))})


def run(client: httpx.Client, sessions: int, file_jobs: int, speed: float) -> None:
    for _ in range(file_jobs):
        submit(client, long_recording(8), filename="long.wav")
    out: list[dict[str, object]] = []
    threads = [threading.Thread(target=one_session, args=(client, NAMES[n % 2], speed, out)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = sorted(x for r in out for x in r["latencies"])  # type: ignore[attr-defined]
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    live_wer = statistics.mean(float(r["live_wer"]) for r in out)  # type: ignore[arg-type]
    job_wer = statistics.mean(float(r["job_wer"]) for r in out)  # type: ignore[arg-type]
    print(f"{sessions} sessions, {file_jobs} file jobs: {len(latencies)} finals, latency p50 "
          f"{statistics.median(latencies):.2f} s, p95 {p95:.2f} s; WER live {live_wer:.3f}, job {job_wer:.3f}; "
          f"lagging events {sum(int(r['lagging']) for r in out)}")  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--file-jobs", type=int, default=2)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    redis_proc, url = start_redis(tmp)
    worker = start_worker(url, tmp, "bench")
    api, base = start_api(url, tmp, ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY="64", ENDOSCRIBE_QUOTA_REQUEST_RATE="")
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for count in args.sessions:
                run(client, count, args.file_jobs, args.speed)
    finally:
        for proc in (api, worker, redis_proc):
            proc.stop()


if __name__ == "__main__":
    main()
