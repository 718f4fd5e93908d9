"""What timing every word costs a file job: the worker's decode of the same windows with and without
words (`DecodeRequest.words`), as a ratio, on this machine in this run.

    .venv/bin/python bench/word_timings.py [--repeat 5] [--clips 6] [--batch 4]

The words come from CTranslate2's `align` over the encoder output the window was decoded from (one
forced decoder pass and dynamic time warping), so the ratio is what a file window pays for them. For
contrast it also prints what re-encoding the window for them would cost (a second encoder pass, the
way a separate step after the job would have to). The windows are the dev set's dictations (Piper
voices, no noise), cut where VAD finds speech, decoded `--batch` at a time with the vocabulary prompt.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from core.jobs import JobOptions  # noqa: E402
from core.settings import WorkerSettings  # noqa: E402
from core.vocabulary import decoding_prompt  # noqa: E402
from worker.model.decoding import SAMPLE_RATE, decode_audio  # noqa: E402
from worker.model.model_manager import ModelManager  # noqa: E402
from worker.model.transcriber import DecodeRequest  # noqa: E402

DEVSET = ROOT / "bench" / "devset"


def windows(models: ModelManager, clips: int) -> list[tuple[np.ndarray, str]]:
    """Speech windows of the first `clips` clean dev-set dictations, each with its note type."""
    manifest = [c for c in json.loads((DEVSET / "manifest.json").read_text()) if not c["noise_snr_db"]][:clips]
    found = []
    for clip in manifest:
        audio = decode_audio((DEVSET / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
        found += [(audio[int(w.start * SAMPLE_RATE):int(w.end * SAMPLE_RATE)], str(clip["note_type"]))
                  for w in models.speech_windows(audio)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    settings = WorkerSettings()
    models = ModelManager(settings)
    pipeline = models.load()
    found = windows(models, args.clips)

    def requests(words: bool) -> list[list[DecodeRequest]]:
        made = []
        for clip, note_type in found:
            prompt, hotwords = decoding_prompt(JobOptions(note_type=note_type), settings.vocabulary)
            made.append(DecodeRequest(clip, "en", prompt, hotwords, words=words))
        return [made[i:i + args.batch] for i in range(0, len(made), args.batch)]

    def run(words: bool) -> float:
        started = time.perf_counter()
        for batch in requests(words):
            models.decode(batch)
        return time.perf_counter() - started

    def encode_again() -> float:
        from whisperx.audio import N_SAMPLES, log_mel_spectrogram

        model = pipeline.model
        n_mels = model.feat_kwargs.get("feature_size") or 80
        started = time.perf_counter()
        for batch in requests(False):
            features = np.stack([log_mel_spectrogram(r.audio, n_mels=n_mels, padding=N_SAMPLES - r.audio.shape[0])
                                 .numpy() for r in batch])
            model.encode(features)
        return time.perf_counter() - started

    run(True)  # load, warm every batch shape
    plain, timed, encoder = [], [], []
    for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits both alike
        plain.append(run(False))
        timed.append(run(True))
        encoder.append(encode_again())
    base = statistics.median(plain)
    print(f"{len(found)} windows of {args.clips} dev-set dictations, {args.batch} per batch, "
          f"{settings.model or 'bundled:tiny.en'}, median of {args.repeat}")
    print(f"decode alone {base:.2f} s; with words {statistics.median(timed):.2f} s")
    print(f"words / decode alone: {statistics.median(timed) / base:.3f} "
          f"(runs: {', '.join(f'{t / p:.3f}' for t, p in zip(timed, plain, strict=True))})")
    print(f"a second encoder pass instead would add: {statistics.median(encoder) / base:.3f} of the decode")


if __name__ == "__main__":
    main()
