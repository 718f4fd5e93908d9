"""WhisperX's wav2vec2 word alignment (`ENDOSCRIBE_WORKER_ALIGN=true`): its models, loaded once per language
and kept, and the check at start-up that what it needs is on disk."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.jobs import Transcript

if TYPE_CHECKING:
    import numpy as np


class AlignmentUnavailable(RuntimeError):
    """Word alignment is switched on but what it needs is not on this machine."""


class Alignment:
    """The alignment models of one worker process. `device` says where the Whisper model runs (the
    alignment model runs there too); `lock` is the model manager's, held around WhisperX's own code."""

    def __init__(self, device: Callable[[], str], lock: threading.Lock) -> None:
        self.device = device
        self.lock = lock
        self._models: dict[str, tuple[Any, Any]] = {}

    def align(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        from worker.model import pipeline

        model, metadata = self.model(transcript.language)
        with self.lock:
            return pipeline.align(transcript, audio, model, metadata, self.device())

    def model(self, language: str) -> tuple[Any, Any]:
        """The wav2vec2 alignment model for a language, loaded on first use and kept."""
        if language not in self._models:
            import whisperx

            self._models[language] = whisperx.load_align_model(language, self.device())
        return self._models[language]

    def prepare(self) -> None:
        """Load what word alignment needs, from disk, now: a missing piece stops the worker at start-up.

        WhisperX's alignment splits sentences with NLTK's punkt_tab and, when it is missing, calls
        `nltk.download` in the middle of a job: offline that is a LookupError, online a download by
        every new container. The worker image bakes it (NLTK_DATA); elsewhere it must be installed.
        """
        import nltk

        try:
            nltk.data.find("tokenizers/punkt_tab/english/")
        except LookupError:
            raise AlignmentUnavailable(
                "ENDOSCRIBE_WORKER_ALIGN=true needs NLTK's punkt_tab on disk: run `python -m nltk.downloader -d <dir> "
                "punkt_tab` and set NLTK_DATA=<dir> (the worker image has it), or set ENDOSCRIBE_WORKER_ALIGN=false"
            ) from None
        self.model("en")

    def unload(self) -> None:
        self._models.clear()
