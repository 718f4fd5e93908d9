"""Word alignment with the weights the worker image bakes (wav2vec2 English, NLTK punkt_tab).

Runs wherever both are on disk (the worker image, a GPU host after `make up` downloaded them once, or
a machine with TORCH_HOME and NLTK_DATA pointing at copies); skipped elsewhere, since they cannot be
downloaded at test time. On CUDA when there is one, else on the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import WorkerSettings
from tests.jobs import FIXTURES

torch = pytest.importorskip("torch")
nltk = pytest.importorskip("nltk")

WAV2VEC2_EN = "wav2vec2_fairseq_base_ls960_asr_ls960.pth"


def _weights_present() -> bool:
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / WAV2VEC2_EN
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return False
    return checkpoint.is_file()


pytestmark = pytest.mark.skipif(not _weights_present(), reason="alignment weights or punkt_tab not on disk")


def test_alignment_gives_every_word_a_time_without_touching_the_network(tmp_path: Path) -> None:
    from worker.model.decoding import decode_audio
    from worker.model.model_manager import ModelManager
    from worker.model.pipeline import align, transcribe

    os.environ["HF_HUB_OFFLINE"] = "1"
    models = ModelManager(WorkerSettings(align=True))
    pipe = models.load()
    models.alignment.prepare()
    assert models.runtime is not None
    audio = decode_audio((FIXTURES / "colonoscopy.wav").read_bytes(), 3600, tmp_path)
    transcript = transcribe(pipe, audio, language="en", batch_size=models.runtime.batch_size)
    model, metadata = models.alignment.model("en")
    aligned = align(transcript, audio, model, metadata, models.runtime.whisperx_device)
    words = [w for s in aligned.segments for w in (s.words or [])]
    assert len(words) >= 20
    timed = [w for w in words if w.start is not None and w.end is not None]
    assert len(timed) >= 0.9 * len(words)
    assert all(0 <= w.start <= w.end <= transcript.duration + 0.5 for w in timed)  # type: ignore[operator]
