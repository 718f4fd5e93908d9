"""The real model through the scheduler's batched path gives each job exactly what WhisperX alone gives it,
whatever else shares the batch (other recordings, other prompts, hotwords)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from core.settings import WorkerSettings
from core.tuning import WorkerTuning
from worker.model.decoding import SAMPLE_RATE, decode_audio
from worker.model.model_manager import ModelManager
from worker.model.transcriber import DecodeRequest

FIXTURES = Path(__file__).parents[1] / "fixtures"
JOBS = [("colonoscopy.wav", None, None), ("egd.wav", "Upper endoscopy: antrum, duodenum.", None),
        ("summary.wav", None, "polypectomy, surveillance"), ("egd.flac", None, None)]


@pytest.fixture(scope="module")
def models() -> ModelManager:
    manager = ModelManager(WorkerSettings(tuning=WorkerTuning(batch_size=4, warmup=False)))
    manager.load()
    return manager


def test_windows_of_different_jobs_and_prompts_decoded_together_match_whisperx_alone(models: ModelManager) -> None:
    expected, requests, owners = [], [], []
    for name, prompt, hotwords in JOBS:
        audio = decode_audio((FIXTURES / name).read_bytes(), 3600, Path(tempfile.gettempdir()))
        alone = models.transcribe(audio, language="en", initial_prompt=prompt, hotwords=hotwords,
                                  progress_callback=lambda _: None)
        expected.append([s.text for s in alone.segments])
        windows = models.speech_windows(audio)
        assert [(round(w.start, 3), round(w.end, 3)) for w in windows] == [(s.start, s.end) for s in alone.segments]
        for w in windows:
            requests.append(DecodeRequest(audio[int(w.start * SAMPLE_RATE):int(w.end * SAMPLE_RATE)], "en",
                                          prompt, hotwords))
            owners.append(name)

    texts = models.decode(requests)

    got = [[t.text.strip() for t, owner in zip(texts, owners, strict=True) if owner == name] for name, _, _ in JOBS]
    assert got == expected
    # Only windows whose prompts put the start-of-transcript token at one position share a forward pass.
    keys = [models.batch_key("en", prompt, hotwords) for _, prompt, hotwords in JOBS]
    assert keys[0] == keys[3] and len(set(keys)) == 3


def test_words_come_from_the_pass_that_decoded_their_window_timed_in_order_and_spelling_its_text(
    models: ModelManager,
) -> None:
    audio = decode_audio((FIXTURES / "colonoscopy.wav").read_bytes(), 3600, Path(tempfile.gettempdir()))
    silence = np.zeros(3 * SAMPLE_RATE, np.float32)
    clips = [audio[int(w.start * SAMPLE_RATE):int(w.end * SAMPLE_RATE)] for w in models.speech_windows(audio)]

    plain = models.decode([DecodeRequest(clip, "en") for clip in clips])
    timed = models.decode([DecodeRequest(clip, "en", words=True) for clip in [*clips, silence]])

    assert [t.text for t in timed[:-1]] == [t.text for t in plain]  # timing words changes no text
    assert all(t.words == () for t in plain)
    for clip, window in zip(clips, timed, strict=False):
        assert " ".join(w.word for w in window.words) == window.text.strip()
        starts = [w.start for w in window.words]
        seconds = clip.size / SAMPLE_RATE
        assert starts == sorted(starts) and all(w.start <= w.end <= seconds + 0.05 for w in window.words)
        assert all(0.0 <= w.probability <= 1.0 for w in window.words)
        assert window.avg_logprob is not None and window.avg_logprob > -1.0  # clear speech, a sure decode
    # Over silence the model says so: whatever it made up, it thinks there is no speech.
    assert timed[-1].no_speech_prob is not None and timed[-1].no_speech_prob > 0.5
