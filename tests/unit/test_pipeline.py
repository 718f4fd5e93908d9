"""The pipeline leaves the resident model as it found it, whatever happened to the job."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from core.errors import JobCancelled
from worker.model import pipeline


@dataclasses.dataclass(frozen=True)
class Options:
    initial_prompt: str | None = None
    hotwords: str | None = None


class MultilingualPipeline:
    """Behaves like WhisperX's FasterWhisperPipeline on a multilingual model: a call pins the tokenizer
    to the job's language and unpins it only if the call completes."""

    def __init__(self) -> None:
        self.options = Options()
        self.tokenizer: Any = None

    def transcribe(
        self, audio: Any, *, batch_size: int, language: str | None, progress_callback: Any
    ) -> dict[str, Any]:
        self.tokenizer = f"tokenizer({language})"
        progress_callback(50.0)
        self.tokenizer = None
        return {"segments": [{"start": 0.0, "end": 1.0, "text": " hallo"}], "language": language}


def test_a_cancelled_job_does_not_hand_its_language_or_prompt_to_the_next_job() -> None:
    model = MultilingualPipeline()

    def cancel(_: float) -> None:
        raise JobCancelled("cancelled")

    with pytest.raises(JobCancelled):
        pipeline.transcribe(model, np.zeros(16000, np.float32), language="de", batch_size=4,
                            initial_prompt="Koloskopie", progress_callback=cancel)

    assert model.tokenizer is None
    assert model.options == Options()


def test_a_completed_job_sees_its_own_prompt_and_leaves_none_behind() -> None:
    model = MultilingualPipeline()
    seen: list[Options] = []
    transcript = pipeline.transcribe(
        model, np.zeros(16000, np.float32), language="de", batch_size=4, initial_prompt="Koloskopie",
        progress_callback=lambda _: seen.append(model.options),
    )
    assert seen == [Options(initial_prompt="Koloskopie")]
    assert transcript.text == "hallo" and model.options == Options() and model.tokenizer is None
