"""Word error rate of the configured model on the committed speech fixtures, with and without a prompt.

    .venv/bin/python bench/wer.py

The figures the e2e test bounds (tests/e2e/test_transcription.py, MAX_WER) come from this script.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jiwer  # noqa: E402

from core.settings import WorkerSettings  # noqa: E402
from worker.decoding import decode_audio  # noqa: E402
from worker.model_manager import ModelManager  # noqa: E402
from worker.pipeline import transcribe  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
PROMPTS = {
    "colonoscopy": "Colonoscopy report: terminal ileum, sigmoid colon, polyp, cold snare.",
    "egd": "Upper endoscopy (EGD) report: esophagus, stomach, erythema, antrum, biopsies, duodenum.",
    "summary": "Impression: polyp removed, follow up colonoscopy.",
}


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def main() -> None:
    models = ModelManager(WorkerSettings())
    pipeline = models.load()
    assert models.runtime is not None
    print(f"model {models.model_name} on {models.runtime.whisperx_device}/{models.runtime.compute_type}")
    for path in sorted(p for p in FIXTURES.iterdir() if p.suffix != ".txt"):
        name = path.name.split(".")[0]
        reference = normalise((FIXTURES / f"{name}.txt").read_text())
        audio = decode_audio(path.read_bytes(), 14400, Path(tempfile.gettempdir()))
        for prompt in (None, PROMPTS[name]):
            text = transcribe(pipeline, audio, language=models.language, batch_size=models.runtime.batch_size,
                              initial_prompt=prompt).text
            wer = jiwer.wer(reference, normalise(text))
            print(f"{path.name:<16} prompt={'yes' if prompt else 'no ':<3}  WER {wer:.3f}")


if __name__ == "__main__":
    main()
