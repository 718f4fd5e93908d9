"""What the job runner needs from a model, as a Protocol: `ModelManager` in a worker, a fake in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from core.jobs import Transcript

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """What a job records about the model that ran it."""

    model: str
    device: str
    compute_type: str
    batch_size: int
    language: str | None
    """The only language the model transcribes (English-only models), or None for any."""


class Transcriber(Protocol):
    def info(self) -> ModelInfo:
        """The resident model's description (loading it first if needed)."""
        ...

    def transcribe(
        self, audio: np.ndarray, *, language: str | None, initial_prompt: str | None, hotwords: str | None,
        progress_callback: Callable[[float], None],
    ) -> Transcript:
        """One job's audio through the model; `progress_callback` may raise to stop it."""
        ...

    def align(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        """Add word timings."""
        ...
