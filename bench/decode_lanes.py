"""How the worker's CPU threads are best spent: one CTranslate2 replica on every thread, or a replica
(a decode lane) per thread. Each figure is a ratio of configurations run on this machine in this run.

    .venv/bin/python bench/decode_lanes.py [--repeat 5]

The work is the worker's own decode path (`ModelManager.decode`, the bundled model): a live unit (an
8 s dev-set utterance in a 15 s window with a live prompt: the previous final's tail and the
vocabulary, cut to 176 tokens) and a file batch (4 windows of 30 s with the vocabulary prompt).
For each configuration: the time of one unit alone, of one unit per lane decoded at once (what a
second lane buys: a final that need not wait), and of the file batch alone and one per lane at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from core.jobs import JobOptions  # noqa: E402
from core.settings import WorkerSettings  # noqa: E402
from core.tuning import WorkerTuning  # noqa: E402
from core.vocabulary import decoding_prompt  # noqa: E402
from worker.model.decoding import decode_audio  # noqa: E402
from worker.model.model_manager import ModelManager, _cpu_count  # noqa: E402
from worker.model.transcriber import DecodeRequest  # noqa: E402

DEVSET = ROOT / "bench" / "devset"


def dev_clip() -> tuple[np.ndarray, str]:
    """The first Piper dev-set dictation, and its note type."""
    clip = next(c for c in json.loads((DEVSET / "manifest.json").read_text())
                if c["voice"] == "joe" and not c["noise_snr_db"])
    audio = decode_audio((DEVSET / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
    return audio, str(clip["note_type"])


def timed(models: ModelManager, batches: list[list[DecodeRequest]], repeat: int) -> float:
    """Median seconds to decode `batches`, all at once (one thread each)."""
    times = []
    with ThreadPoolExecutor(len(batches)) as pool:
        for _ in range(repeat):
            started = time.perf_counter()
            list(pool.map(models.decode, batches))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    threads = _cpu_count()
    audio, note_type = dev_clip()
    prompt, hotwords = decoding_prompt(JobOptions(note_type=note_type), WorkerSettings().vocabulary)
    live_prompt = "The previous utterance's last words, as a live unit's prompt starts. " + (prompt or "")
    unit = DecodeRequest(audio[2 * 16000:10 * 16000], "en", live_prompt, hotwords, 176, 15.0, 96)
    files = [DecodeRequest(audio[n * 16000:(n + 30) * 16000], "en", prompt, hotwords) for n in range(0, 8, 2)]
    rows = {}
    for label, cpu_threads, lanes in ((f"{threads} threads, 1 lane (before)", threads, 1),
                                      (f"1 thread, {threads} lanes (default)", threads, threads)):
        models = ModelManager(WorkerSettings(cpu_threads=cpu_threads, tuning=WorkerTuning(decode_lanes=lanes)))
        models.decode([unit])  # load, warm
        rows[label] = (timed(models, [[unit]], args.repeat), timed(models, [[unit]] * lanes, args.repeat),
                       timed(models, [files], max(1, args.repeat // 2)),
                       timed(models, [files] * lanes, max(1, args.repeat // 2)), lanes)
        models.unload()
    for label, (one, many, batch, batches, lanes) in rows.items():
        print(f"{label}: live unit {one:.3f} s alone, {many:.3f} s for {lanes} at once; "
              f"file batch (4 x 30 s) {batch:.2f} s alone, {batches:.2f} s for {lanes} at once", flush=True)
    (one_a, _, batch_a, _, _), (one_b, many_b, _, batches_b, lanes) = rows.values()
    print(f"ratios (default / before): live unit alone {one_a / one_b:.2f}x as fast; live units per second "
          f"{(lanes / many_b) / (1 / one_a):.2f}x; file windows per second {(lanes / batches_b) / (1 / batch_a):.2f}x",
          flush=True)


if __name__ == "__main__":
    main()
