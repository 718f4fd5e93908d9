"""What the live desk holds: a session it serves, and a unit (one decode of one utterance).

A `LiveUnit` is a work item of the round (`worker.schedule.work.WorkItem`) with one window, always on
the high-priority lane, batched with other sessions' units and with file jobs' windows.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.jobs import ClientCommand
from core.session_records import byte_at
from core.session_store import BYTES_PER_SECOND
from core.settings import LiveSettings
from worker.leases import Lease
from worker.live.dictating import LiveDictation
from worker.live.endpointing import Cut, CutKind, LocalAgreement
from worker.live.look import Look, Looked
from worker.model.transcriber import DecodeRequest, Transcriber, Window

if TYPE_CHECKING:
    import numpy as np

PROMPT_CHARS = 160
"""The tail of the previous final that leads the next utterance's prompt (about 35 tokens)."""
SHORT_UTTERANCE_SECONDS = 8.0
SHORT_WINDOW_SECONDS = 15.0
"""An utterance up to 8 s is encoded in a 15 s window instead of Whisper's 30 s: half the encoder's work
(most of a unit's cost on a CPU) at the same WER on the dev set (tiny.en: 12.55 % against 12.87 % over
12 clips cut at pauses into pieces up to 8 s; 10 s windows lost words: 20.9 %)."""
TOKENS_PER_SECOND = 10
"""A live unit's text is capped at this many tokens per second of audio (plus `TOKENS_SLACK`): fast
dictation is about 6 (4 words a second, with punctuation); more is the model looping."""
TOKENS_SLACK = 16
FINALS_FIRST = 10**12
"""Subtracted from a final unit's order, so every waiting final is decoded before any partial."""


@dataclass
class HeldSession:
    """A session this worker serves, and what it remembers between units."""

    id: str
    language: str
    hotwords: str | None
    initial_prompt: str | None
    committed: int
    """Bytes of the session's audio already in a final (or dropped as silence)."""
    segment: int
    prompt: str
    looked_at: int
    """The session's audio length (bytes) when this worker last looked at it."""
    lease: Lease
    """This worker's lease on it, renewed by the process's lease renewer."""
    partial_at: int = 0
    """The session's audio length (bytes) when its last partial was made."""
    partial_made_at: float = 0.0
    """When (monotonic) its last partial was made: the sessions that waited longest get the next ones."""
    head: list[Window] = field(default_factory=list)
    """The utterance's speech before `tail_from` (seconds from `committed`), as earlier looks found it,
    with no pause that ends it: each look runs VAD over the audio after `tail_from` only, so a look
    costs the same at any length."""
    tail_from: float = 0.0
    judged: float = 0.0
    """The pauses of the utterance before this point were judged (see `endpointing.cut`)."""
    speaking: bool = False
    """The last look found speech with no pause after it that ends the utterance."""
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    shown: str = ""
    busy: bool = False
    """A unit of this session waits for the model or is in it."""
    partial: LiveUnit | None = None
    """That unit, when it is a partial: a pause found meanwhile makes it stale (see `poll`)."""
    lag_told_at: float = 0.0
    heard: int = -1
    """The session's audio length (bytes) when this worker last saw it grow (-1: not seen yet)."""
    grew_at: float = 0.0
    """When (epoch) its audio last grew: what its idle time counts from. Only audio counts, so a client
    that sends empty chunks (or anything else that refreshes `last_audio_at`) does not keep it open."""
    looking: tuple[Look, Future[Looked]] | None = None
    """A look at it running off the scheduler's thread (see `LiveDesk.poll`)."""
    dictation: LiveDictation | None = None
    """Its document, where its finals go through the command grammar (dictation formatting on)."""
    clear_to: int = 0
    """The utterance in progress has no speech before this byte, as the last look found: a client command
    that came before it applies before that speech (`worker.live.commanding`)."""
    commands_sent: int = 0
    """Commands its client sent, as last read."""
    commands_applied: int = 0
    waiting: list[ClientCommand] = field(default_factory=list)
    """The commands after those applied, read once each, that wait for their place in the audio."""

    def restart(self, committed: int) -> None:
        """The next utterance starts at byte `committed`."""
        self.committed, self.head, self.tail_from, self.speaking, self.judged = committed, [], 0.0, False, 0.0

    def unit_prompt(self) -> str | None:
        """The previous final's tail, for continuity, then the job's prompt (its vocabulary): the model
        cuts it to `LiveTuning.prompt_tokens`, so every session's units put SOT at one position and
        share batches, and the vocabulary is never pushed out by the session's own text."""
        tail = self.prompt[-PROMPT_CHARS:].partition(" ")[2] if len(self.prompt) > PROMPT_CHARS else self.prompt
        return " ".join(p for p in (tail.strip(), self.initial_prompt) if p) or None


@dataclass
class LiveUnit:
    """One decode of one session's utterance: a Schedulable with one window, always on the high lane."""

    id: str
    session: HeldSession
    cut: Cut
    audio: np.ndarray
    offset: float
    """Where the utterance starts, in seconds of the session."""
    end_byte: int
    key: Hashable
    seq: int
    prompt: str | None
    prompt_tokens: int
    window_seconds: float
    sent: int = 0
    passed_over: int = 0
    stale: bool = False
    """A partial overtaken by its session's final: not decoded if it still waits, its text ignored."""
    made_at: float = field(default_factory=time.monotonic)
    launched_at: float = 0.0
    """When (monotonic) it went to the model: its wait and decode times are worker metrics."""

    @property
    def high(self) -> bool:
        return True

    @property
    def paced(self) -> bool:
        """Decoded at a speaker's pace: a client waits for its text."""
        return True

    @property
    def final(self) -> bool:
        return self.cut.kind is CutKind.FINAL

    @property
    def remaining(self) -> int:
        return 0 if self.stale else 1 - self.sent

    def request(self, index: int) -> DecodeRequest:
        return DecodeRequest(self.audio, self.session.language, self.prompt, self.session.hotwords,
                             self.prompt_tokens, self.window_seconds,
                             int(TOKENS_PER_SECOND * self.audio.size / 16000) + TOKENS_SLACK)

    def redo(self, index: int, text: str) -> DecodeRequest | None:
        """A unit's text stands as it came (its prompt is cut to a token count, and a partial is redone anyway)."""
        return None


def make_unit(session: HeldSession, cut: Cut, pcm: bytes, number: int, models: Transcriber,
              settings: LiveSettings, short_windows: bool = True) -> LiveUnit:
    """The unit that decodes `cut` of the session's utterance in progress (`pcm`: its audio), the
    desk's `number`-th. `short_windows`: an utterance up to 8 s is encoded in a 15 s window (a CPU,
    where the encoder's work is paid per window); else every unit takes Whisper's 30 s, so that every
    session's units (and file windows) due together share one forward pass (an accelerator, where a
    batch costs little more than one window and a second batch would wait for the first)."""
    import numpy as np

    clip = np.frombuffer(pcm[:len(pcm) - len(pcm) % 2], np.int16).astype(np.float32) / 32768.0
    prompt = session.unit_prompt()
    # Finals go before partials: a final is what a clinician waits for, a partial only a preview.
    order = number - (FINALS_FIRST if cut.kind is CutKind.FINAL else 0)
    window = SHORT_WINDOW_SECONDS if short_windows and clip.size <= SHORT_UTTERANCE_SECONDS * 16000 else 30.0
    key = models.batch_key(session.language, prompt, session.hotwords, settings.tuning.prompt_tokens)
    key = key if window == 30.0 else (key, window)  # a 30 s window may share a file job's batch
    return LiveUnit(f"live:{session.id}:{number}", session, cut, np.ascontiguousarray(clip),
                    session.committed / BYTES_PER_SECOND, session.committed + byte_at(cut.end), key, order,
                    prompt, settings.tuning.prompt_tokens, window)
