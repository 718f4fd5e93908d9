"""A file job while a round has it open: its windows, their texts, and how the model takes each one."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.jobs import JobOptions
from worker.leases import Lease
from worker.model import decoding
from worker.model.transcriber import DecodeRequest, Window, WindowText
from worker.text import vocabulary_guard

if TYPE_CHECKING:
    import numpy as np


@dataclass
class OpenJob:
    """A claimed job whose speech windows are waiting for (or going through) the model: a work item
    of the round (`worker.schedule.work.WorkItem`)."""

    id: str
    holder: str
    """This run's lease holder name."""
    options: JobOptions
    language: str
    audio: np.ndarray
    windows: list[Window]
    started: float
    lease: Lease
    job_limit: float
    """The job's own time limit (seconds of work), checked between batches."""
    prompt: str | None = None
    """What the job is decoded with: the client's prompt and hotwords joined by its vocabulary."""
    hotwords: str | None = None
    guarded: bool = False
    """A window that comes out truncated (`vocabulary_guard.is_truncated`) is decoded again without the prompt."""
    key: Hashable = 0
    """Windows of jobs with different keys cannot share a batch (`Transcriber.batch_key`)."""
    words: bool = False
    """Its windows come back with their words timed (`DecodeRequest.words`)."""
    texts: list[str | None] = field(default_factory=list)
    decoded: list[WindowText | None] = field(default_factory=list)
    """What the model gave for each window (its text is `texts`'), with its words and decoder statistics."""
    sent: int = 0
    """Windows handed to the model so far (they go in order)."""
    seq: int = 0
    """Admission order in this worker: ties in the scheduler go to the earlier job."""
    passed_over: int = 0
    """Batches in a row that ran without any of this job's windows while it had some waiting."""
    speech_found: bool = False
    """False while VAD is still looking for its speech (`windows` is empty until then)."""

    @property
    def high(self) -> bool:
        return self.options.priority == "high"

    @property
    def paced(self) -> bool:
        """Decoded at a speaker's pace? A file job is not: nobody watches its windows go by."""
        return False

    @property
    def final(self) -> bool:
        return False

    @property
    def remaining(self) -> int:
        return len(self.windows) - self.sent

    @property
    def done(self) -> bool:
        return self.speech_found and all(t is not None for t in self.texts)

    @property
    def deadline(self) -> float:
        return self.started + self.job_limit

    def request(self, index: int) -> DecodeRequest:
        """Window `index` as the model takes it, with this job's own decoding options."""
        return DecodeRequest(self.clip(index), self.language, self.prompt, self.hotwords, words=self.words)

    def land(self, index: int, decoded: WindowText) -> None:
        self.texts[index], self.decoded[index] = decoded.text, decoded

    def redo(self, index: int, text: str) -> DecodeRequest | None:
        """Window `index` again without the prompt, when the prompt made Whisper cut it short or loop."""
        window = self.windows[index]
        if not self.guarded or not vocabulary_guard.is_truncated(text, window.end - window.start):
            return None
        return DecodeRequest(self.clip(index), self.language, words=self.words)

    def clip(self, index: int) -> np.ndarray:
        window = self.windows[index]
        return self.audio[int(window.start * decoding.SAMPLE_RATE):int(window.end * decoding.SAMPLE_RATE)]
