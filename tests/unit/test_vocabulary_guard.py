"""The truncation guard: a window whose text is far shorter than its speech is decoded again unprompted."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from core.jobs import Segment, Transcript
from worker.model.transcriber import ModelInfo
from worker.text.vocabulary_guard import is_truncated, transcribe_guarded


def words(n: int, seed: str = "") -> str:
    """n different words (text that does not compress like a loop)."""
    return " ".join(hashlib.sha256(f"{seed}{i}".encode()).hexdigest()[:6] for i in range(n))


@pytest.mark.parametrize(("n", "seconds", "truncated"), [
    (60, 25.0, False),   # dictation pace, 2.4 words a second
    (20, 25.0, True),    # Whisper stopped after the first sentences
    (0, 25.0, True),
    (4, 3.0, False),     # too short a window to judge
    (4, 4.0, False),
    (3, 4.0, True),
])
def test_is_truncated(n: int, seconds: float, truncated: bool) -> None:
    assert is_truncated(words(n), seconds) is truncated


def test_a_loop_of_prompt_terms_is_truncation_too() -> None:
    looping = "Indication, colon, subepithelial lesion, " + "hypoechoic, " * 30
    said = ("A radial echoendoscope was used. A twenty five millimeter hypoechoic, homogeneous lesion arising "
            "from the muscularis propria was seen in the gastric fundus, suggestive of a stromal tumor.")
    assert is_truncated(looping, 28.0) is True
    assert is_truncated(said, 12.0) is False


class ScriptedModel:
    """Answers prompted calls with `prompted` segments, unprompted ones with one segment per window."""

    def __init__(self, prompted: list[Segment]) -> None:
        self.prompted = prompted
        self.calls: list[tuple[float, str | None]] = []

    def info(self) -> ModelInfo:
        return ModelInfo("scripted", "cpu", "int8", 1, "en")

    def transcribe(self, audio: Any, *, language: str | None, initial_prompt: str | None, hotwords: str | None,
                   progress_callback: Callable[[float], None]) -> Transcript:
        seconds = audio.size / 16000
        self.calls.append((seconds, initial_prompt))
        progress_callback(100.0)
        segments = self.prompted if initial_prompt else [
            Segment(start=0.5, end=seconds - 0.5, text=words(int(seconds * 2), "again"))]
        return Transcript(text=" ".join(s.text for s in segments), language="en", duration=seconds,
                          segments=segments)

    def align(self, transcript: Transcript, audio: Any) -> Transcript:
        return transcript


def test_truncated_and_dropped_windows_are_decoded_again_without_the_prompt() -> None:
    full = Segment(start=0.0, end=10.0, text=words(25))
    short = Segment(start=10.0, end=30.0, text="only this")
    model = ScriptedModel([full, short])   # and nothing from 30 s to the end at 40 s
    progress: list[float] = []

    result = transcribe_guarded(model, np.zeros(40 * 16000, np.float32), language="en", initial_prompt="cecum",
                                hotwords=None, progress_callback=progress.append)

    assert model.calls == [(40.0, "cecum"), (20.0, None), (10.0, None)]
    assert [(s.start, s.end, len(s.text.split())) for s in result.segments] == [
        (0.0, 10.0, 25), (10.5, 29.5, 40), (30.5, 39.5, 20)]
    assert result.text == " ".join(s.text for s in result.segments)
    assert progress == [100.0, 99.0, 99.0]


def test_an_unprompted_or_disabled_run_is_left_as_it_is() -> None:
    model = ScriptedModel([Segment(start=0.0, end=20.0, text="short")])
    audio = np.zeros(20 * 16000, np.float32)
    for prompt, enabled in ((None, True), ("cecum", False)):
        model.prompted = [Segment(start=0.0, end=20.0, text="short")] if prompt else model.prompted
        transcribe_guarded(model, audio, language="en", initial_prompt=prompt, hotwords=None,
                           progress_callback=lambda _: None, enabled=enabled)
    assert model.calls == [(20.0, None), (20.0, "cecum")]
