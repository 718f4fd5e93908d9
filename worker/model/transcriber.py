"""What the scheduler needs from a model, as a Protocol: `ModelManager` in a worker, a fake in tests.

The model is driven a batch at a time, not a job at a time: the scheduler finds each job's speech
windows, packs windows of many jobs into one batch, and scatters the texts back.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
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
    lanes: int = 1
    """Batches `decode` runs at once, each called from its own thread (see `WorkerTuning.decode_lanes`)."""


@dataclass(frozen=True)
class Window:
    """A stretch of speech, at most 30 s, as VAD found it (seconds from the start of the recording)."""

    start: float
    end: float


@dataclass(frozen=True)
class DecodeRequest:
    """One window of one job, with that job's own decoding options."""

    audio: np.ndarray
    language: str
    initial_prompt: str | None = None
    hotwords: str | None = None
    prompt_tokens: int | None = None
    """Cut the prompt to its first this many tokens: prompts of one length batch together (live units)."""
    window_seconds: float = 30.0
    """The audio is padded with silence to this length for the encoder (Whisper's 30 s; a live utterance
    of a few seconds takes 15 s at half the cost). Only requests with one window length share a batch."""
    max_tokens: int | None = None
    """At most this many tokens of text (None: the model's 448). A live unit caps it by its length, so a
    decode that loops (tiny.en on a word cut in half) stops within a second instead of running for 448."""
    words: bool = False
    """Time every word and give its probability (`WindowText.words`): file jobs ask, live units do not."""


@dataclass(frozen=True)
class TimedWord:
    """A word as the model's cross-attention places it (seconds from the start of its window)."""

    word: str
    start: float
    end: float
    probability: float
    """The mean probability of the word's tokens."""


@dataclass(frozen=True)
class WindowText:
    """One window's text as the model decoded it, with what says how sure it was."""

    text: str
    words: tuple[TimedWord, ...] = ()
    """Only where the request asked for them."""
    avg_logprob: float | None = None
    """The decoded tokens' mean log-probability (Whisper's own: below -1 is a doubtful decode)."""
    no_speech_prob: float | None = None
    """The model's probability that the window holds no speech at all."""


class ModelOutOfMemory(RuntimeError):
    """The accelerator ran out of memory for this batch: a smaller batch may fit."""


class Transcriber(Protocol):
    def info(self) -> ModelInfo:
        """The resident model's description (loading it first if needed)."""
        ...

    def speech_windows(self, audio: np.ndarray, max_seconds: float = 30.0) -> list[Window]:
        """Where the recording has speech, merged into windows the model takes whole (<= `max_seconds`;
        live endpointing asks for short ones, so the pauses between them show)."""
        ...

    def utterance_speech(self, audio: np.ndarray) -> list[Window]:
        """Where a live utterance's audio has speech, for endpointing: a VAD cheap enough to run every
        few hundred milliseconds per session, whose windows keep pauses of 0.1 s and more apart."""
        ...

    def detect_language(self, audio: np.ndarray) -> str:
        """The language spoken in the first 30 s (multilingual models only)."""
        ...

    def batch_key(self, language: str, initial_prompt: str | None, hotwords: str | None,
                  prompt_tokens: int | None = None) -> Hashable:
        """Windows decoded with options whose keys are equal may share one forward pass."""
        ...

    def decode(self, batch: Sequence[DecodeRequest]) -> list[WindowText]:
        """The text of each window, in order, in as few forward passes as the keys allow (and its words,
        where asked for, from the same encoder output). Raises ModelOutOfMemory."""
        ...

    def align(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        """Add word timings."""
        ...
