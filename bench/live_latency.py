"""Live dictation figures: finalization latency and the accuracy of the assembled session text.

    .venv/bin/python bench/live_latency.py [--sessions 1 4 8] [--file-jobs 2] [--speed 1.0] [--seconds 40]

For each count of concurrent sessions, every session streams a different dictation of the dev set
(bench/devset, the Piper voice: real endoscopy report language, distinct scripts, so utterances end at
different moments as they would in a clinic) in 200 ms chunks at `--speed` times real time through the
whole system (API under uvicorn, Redis, one worker with the bundled model) while `--file-jobs` long
recordings keep the worker busy. Sessions start 0.5 s apart. Each session has its dictation's
`note_type` (so its vocabulary) and `formatting=none`, so both texts are the model's words.

Latency of a final: the moment it arrives minus the moment the audio up to its `end` had been sent.
Accuracy: WER (Whisper's English normalizer, as bench/wer.py) of the session's finals joined, and of
its job's result (the same audio as a file job), against what the voice said.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "devset"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from script import DICTATIONS, MANIFEST, load  # noqa: E402
from wer import wer  # noqa: E402

from tests.jobs import long_recording, submit, wait_for_status  # noqa: E402
from tests.live import LiveClient, chunks  # noqa: E402
from tests.services import free_port, start_api, start_redis, start_worker  # noqa: E402
from worker.model.decoding import decode_audio  # noqa: E402

DEVSET = ROOT / "bench" / "devset"


def dictations(count: int, seconds: float) -> list[dict[str, Any]]:
    """The first `count` Piper clips of distinct dictations, as 16 kHz s16le PCM of at most `seconds`."""
    spoken = {d.id: d.spoken for d in load(DICTATIONS)}
    out: list[dict[str, Any]] = []
    for clip in json.loads(MANIFEST.read_text()):
        if clip["voice"] != "joe" or clip["noise_snr_db"] or any(c["id"] == clip["id"] for c in out):
            continue
        audio = decode_audio((DEVSET / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
        pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
        # Whole clips keep WER honest (a cut mid-sentence has no reference): `seconds` picks shorter ones.
        if len(pcm) / 32000 <= seconds:
            out.append({**clip, "pcm": pcm, "spoken": spoken[clip["id"]]})
        if len(out) == count:
            return out
    raise SystemExit(f"only {len(out)} dev-set dictations are at most {seconds} s long")


def one_session(client: httpx.Client, clip: dict[str, Any], delay: float, speed: float,
                out: list[dict[str, Any]]) -> None:
    time.sleep(delay)
    session = client.post("/v1/sessions", json={"note_type": clip["note_type"], "formatting": "none"}).json()
    live = LiveClient(session["stream_url"])
    pieces = chunks(clip["pcm"])
    started = time.monotonic()
    for n, piece in enumerate(pieces):
        # Real time: chunk n leaves when its audio would have been spoken.
        time.sleep(max(0.0, started + n * 0.2 / speed - time.monotonic()))
        live.ws.send(piece)
    live.end(timeout=300)
    latencies = [arrived - (started + float(m["end"]) / speed)
                 for m, arrived in zip(live.messages, live.arrived, strict=True) if m["type"] == "final"]
    finals = [m for m in live.messages if m["type"] == "final"]
    text = " ".join(str(m["text"]) for m in finals)
    job = wait_for_status(client, session["job_id"], timeout=900)
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()["text"] if job["status"] == "completed" else ""
    out.append({"latencies": latencies, "live": text, "job": result, "spoken": clip["spoken"],
                "lagging": len(live.of("lagging")), "finals": finals})


def unit_times(metrics_url: str) -> dict[tuple[str, str], tuple[float, int]]:
    """The worker's live unit histograms so far: (kind, stage) -> (seconds in all, count)."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str], tuple[float, int]] = {}
    for family in text_string_to_metric_families(httpx.get(metrics_url).text):
        if family.name != "endoscribe_worker_live_unit_seconds":
            continue
        for sample in family.samples:
            key = (sample.labels["kind"], sample.labels["stage"])
            total, count = out.get(key, (0.0, 0))
            if sample.name.endswith("_sum"):
                out[key] = (sample.value, count)
            elif sample.name.endswith("_count"):
                out[key] = (total, int(sample.value))
    return out


def run(client: httpx.Client, clips: list[dict[str, Any]], file_jobs: int, speed: float, show: bool,
        metrics_url: str) -> None:
    before = unit_times(metrics_url)
    for _ in range(file_jobs):
        submit(client, long_recording(8), filename="long.wav")
    out: list[dict[str, Any]] = []
    threads = [threading.Thread(target=one_session, args=(client, clip, 0.5 * n, speed, out))
               for n, clip in enumerate(clips)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if show:
        for r in out:
            print("\n".join([f"spoken: {r['spoken']}", f"job:    {r['job']}"] + [
                f"  {m['start']:6.2f}-{m['end']:6.2f} {lat:5.2f} s: {m['text']}"
                for m, lat in zip(r["finals"], r["latencies"], strict=True)]), flush=True)
    spans = [float(m["end"]) - float(m["start"]) for r in out for m in r["finals"]]
    latencies = sorted(x for r in out for x in r["latencies"])
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    refs = [r["spoken"] for r in out]
    p90 = latencies[min(len(latencies) - 1, int(0.90 * len(latencies)))]
    print(f"{len(clips)} sessions, {file_jobs} file jobs: {len(latencies)} finals, latency p50 "
          f"{statistics.median(latencies):.2f} s, p90 {p90:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s; "
          f"WER live {wer(refs, [r['live'] for r in out]):.2%}, job {wer(refs, [r['job'] for r in out]):.2%}; "
          f"lagging events {sum(r['lagging'] for r in out)}; utterances {statistics.mean(spans):.1f} s on average",
          flush=True)
    after = unit_times(metrics_url)
    means = []
    for kind in ("final", "partial"):
        for stage in ("wait", "decode"):
            total, count = after.get((kind, stage), (0.0, 0))
            old_total, old_count = before.get((kind, stage), (0.0, 0))
            if count > old_count:
                means.append(f"{kind} {stage} {(total - old_total) / (count - old_count):.2f} s")
    partials = after.get(("partial", "decode"), (0, 0))[1] - before.get(("partial", "decode"), (0, 0))[1]
    print(f"  worker, mean per unit: {', '.join(means)}; {partials} partials", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--file-jobs", type=int, default=2)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=40.0, help="longest dictation a session streams")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="worker settings, e.g. ENDOSCRIBE_TUNING_LIVE_MAX_UTTERANCE_SECONDS=8")
    parser.add_argument("--show", action="store_true", help="print each session's finals beside its job's text")
    args = parser.parse_args()
    clips = dictations(max(args.sessions), args.seconds)
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    redis_proc, url = start_redis(tmp)
    metrics_port = free_port()
    worker = start_worker(url, tmp, "bench", ENDOSCRIBE_METRICS_PORT=str(metrics_port),
                          **dict(s.split("=", 1) for s in args.set))
    api, base = start_api(url, tmp, ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY="64", ENDOSCRIBE_QUOTA_REQUEST_RATE="")
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for count in args.sessions:
                run(client, clips[:count], args.file_jobs, args.speed, args.show,
                    f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        for proc in (api, worker, redis_proc):
            proc.stop()


if __name__ == "__main__":
    main()
