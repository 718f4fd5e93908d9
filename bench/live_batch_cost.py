"""What a batch of live units costs on one CPU decode lane, against the same units one after another
and spread over two lanes: whether finals due together should share a batch on a CPU.

    .venv/bin/python bench/live_batch_cost.py

The work is the worker's own decode path (`ModelManager.decode`, the bundled model, its default
decode lanes): dev-set utterances of 6 s in a 15 s window and of 12 s in a 30 s window, each with a
live prompt (the previous final's tail and the vocabulary, cut to 176 tokens). Medians of 3.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the root: bench/findings.py is not the findings package
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from decode_lanes import dev_clip  # noqa: E402

from core.jobs import JobOptions  # noqa: E402
from core.settings import WorkerSettings  # noqa: E402
from core.vocabulary import decoding_prompt  # noqa: E402
from worker.model.model_manager import ModelManager  # noqa: E402
from worker.model.transcriber import DecodeRequest  # noqa: E402


def timed(work: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    audio, note_type = dev_clip()
    prompt, hotwords = decoding_prompt(JobOptions(note_type=note_type), WorkerSettings().vocabulary)
    live_prompt = "The previous utterance's last words, as a live unit's prompt starts. " + (prompt or "")
    models = ModelManager(WorkerSettings())

    def unit(n: int, seconds: int, window: float) -> DecodeRequest:
        start = (2 + 7 * n) * 16000
        return DecodeRequest(audio[start:start + seconds * 16000], "en", live_prompt, hotwords, 176, window,
                             10 * seconds + 16)

    models.decode([unit(0, 6, 15.0)])  # load, warm
    for seconds, window in ((6, 15.0), (12, 30.0)):
        print(f"{seconds} s in a {window:g} s window: " + row(models, [unit(n, seconds, window) for n in range(4)]),
              flush=True)


def row(models: ModelManager, units: list[DecodeRequest]) -> str:
    """Four units: one alone, two one after another, in one batch, four in one batch, and over two lanes."""
    one = timed(lambda: models.decode(units[:1]))
    after = timed(lambda: [models.decode([u]) for u in units[:2]])
    two = timed(lambda: models.decode(units[:2]))
    four = timed(lambda: models.decode(units))
    with ThreadPoolExecutor(2) as lanes:
        spread = timed(lambda: list(lanes.map(lambda u: models.decode([u]), units[:2])))
        spread4 = timed(lambda: list(lanes.map(lambda u: models.decode([u]), units)))
        paired = timed(lambda: list(lanes.map(models.decode, [units[:2], units[2:]])))
    return (f"1 unit {one:.3f} s; 2 one after another {after:.3f}; a batch of 2 {two:.3f}; a batch of 4 "
            f"{four:.3f}; 2 on 2 lanes {spread:.3f}; 4 on 2 lanes one by one {spread4:.3f}; 4 as 2 batches "
            f"of 2 on 2 lanes {paired:.3f}")

if __name__ == "__main__":
    main()
