"""Where a live utterance ends, and which words of a growing one are stable: plain functions.

Endpointing reads the speech windows of the utterance in progress (Silero VAD, through
`Transcriber.utterance_speech`): the first pause long enough ends it, where "long enough" is
`endpoint_silence_seconds`, a real stop (`endpoint_short_silence_seconds`) while it has less than
`endpoint_short_utterance_seconds` of speech (a word alone decodes badly), and only
`endpoint_min_silence_seconds` (a breath) once the utterance has `LONG_UTTERANCE_SECONDS` of speech,
so a fluent talker's utterance ends at a breath before it grows long and slow to decode; one that
reaches `max_utterance_seconds` anyway is cut at its last breath before it (the model takes at most
30 s).

Partials follow LocalAgreement-2 (Macháček et al., whisper_streaming): the utterance is decoded again
each time about a second of audio has come in, and only the longest common prefix of the last two
hypotheses is shown, so a partial grows and never flickers; the final replaces it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise

from core.settings import LiveSettings
from worker.model.transcriber import Window

PAD_SECONDS = 0.2
"""Audio kept around the speech VAD found, so a word's soft edges reach the model."""
SILENCE_KEPT_SECONDS = 1.0
"""When an utterance so far has no speech at all, all but this much of it is dropped (a word may be starting)."""
BREATH_SECONDS = 0.1
"""The shortest gap between words a too-long utterance may be cut at (the live VAD's own minimum)."""
LONG_UTTERANCE_SECONDS = 5.0
"""Speech after which the shortest pause (`endpoint_min_silence_seconds`) ends the utterance: well inside
the 15 s window a unit of up to 8 s is encoded in, so a fluent talker's final is decoded at a breath
while they go on, and what is left at their pause is a short tail (8 s had left 43 % of the held-out
finals over 8 s, in 30 s windows, and their decodes queued the other sessions' finals)."""
_WORD = re.compile(r"[^\w']+")


class CutKind(StrEnum):
    PARTIAL = "partial"
    FINAL = "final"
    SKIP = "skip"
    """Silence only: drop it without a final."""


@dataclass(frozen=True)
class Cut:
    """What to do with the utterance in progress: the span (seconds from its start) to decode or drop."""

    kind: CutKind
    start: float
    end: float


def cut(seconds: float, windows: list[Window], ending: bool, settings: LiveSettings, judged: float = 0.0) -> Cut | None:
    """The next unit of an utterance `seconds` long whose speech is `windows`; None when there is nothing to do.

    `judged`: the gaps between speech that end before this point were judged by an earlier look (none
    ended the utterance) and are not judged again: VAD moves a word's edges by a few tens of ms from
    look to look, and a 0.29 s pause that became 0.32 s, or whose speech before it grew past 8 s, had
    ended utterances seconds after the pause had passed."""
    if not windows:
        if ending or seconds < 3 * settings.tuning.endpoint_silence_seconds + SILENCE_KEPT_SECONDS:
            return None
        return _cut(CutKind.SKIP, 0.0, seconds - SILENCE_KEPT_SECONDS)
    start = max(0.0, windows[0].start - PAD_SECONDS)
    limit = start + settings.tuning.max_utterance_seconds
    # The first pause ends the utterance, even when it was seen late (the buffer is looked at about
    # once a second, a pause is shorter, and a worker that fell behind sees several at once): also
    # when the session is ending, so what was said is cut where it paused, never past the model's 30 s.
    for before, after in pairwise(windows):
        if before.end > limit:
            break
        if before.end < judged:
            continue
        if after.start - before.end >= pause_that_ends(before.end - start, settings):
            return _cut(CutKind.FINAL, start, min(before.end + PAD_SECONDS, (before.end + after.start) / 2))
    if seconds > limit:
        # Too long: cut at its last breath before the limit (any gap VAD found), else at the limit.
        gaps = [(b, a) for b, a in pairwise(windows) if a.start <= limit and a.start - b.end >= BREATH_SECONDS]
        if gaps:
            before, after = gaps[-1]
            return _cut(CutKind.FINAL, start, min(before.end + PAD_SECONDS, (before.end + after.start) / 2))
        return _cut(CutKind.FINAL, start, limit)
    if ending:
        return _cut(CutKind.FINAL, start, seconds)
    if seconds - windows[-1].end >= pause_that_ends(windows[-1].end - start, settings):
        return _cut(CutKind.FINAL, start, min(seconds, windows[-1].end + PAD_SECONDS))
    if seconds >= limit:
        return _cut(CutKind.FINAL, start, seconds)
    return _cut(CutKind.PARTIAL, start, seconds)


def pause_that_ends(spoken: float, settings: LiveSettings) -> float:
    """The silence that ends an utterance `spoken` seconds long: a real stop while it is a word or two,
    a breath once it is long."""
    if spoken < settings.tuning.endpoint_short_utterance_seconds:
        return max(settings.tuning.endpoint_silence_seconds, settings.tuning.endpoint_short_silence_seconds)
    if spoken < LONG_UTTERANCE_SECONDS:
        return settings.tuning.endpoint_silence_seconds
    return min(settings.tuning.endpoint_silence_seconds, settings.tuning.endpoint_min_silence_seconds)


def _cut(kind: CutKind, start: float, end: float) -> Cut:
    return Cut(kind, round(start, 3), round(end, 3))


def _norm(word: str) -> str:
    return _WORD.sub("", word.lower())


@dataclass
class LocalAgreement:
    """LocalAgreement-2 over whole-utterance hypotheses: the stable words of the utterance so far."""

    previous: list[str] | None = None
    stable: list[str] = field(default_factory=list)

    def update(self, hypothesis: str) -> list[str]:
        """Take a new hypothesis; return the stable prefix (it only grows until `reset`)."""
        words = hypothesis.split()
        if self.previous is not None:
            agreed = 0
            for old, new in zip(self.previous, words, strict=False):
                if _norm(old) != _norm(new):
                    break
                agreed += 1
            if agreed > len(self.stable):
                self.stable = self.stable + words[len(self.stable):agreed]
        self.previous = words
        return self.stable

    def reset(self) -> None:
        self.previous, self.stable = None, []
