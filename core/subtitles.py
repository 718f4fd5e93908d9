"""A transcript's segments cut into subtitle cues a reader can follow: at most `MAX_SECONDS` on screen
and `MAX_LINES` lines of `MAX_LINE` characters, cut at sentence ends, then at clause ends, then
between words.

A segment is one speech window (up to 30 s, several sentences). Its text is the formatted one ("5 mm")
while its words, when timed, are the words as spoken ("five millimeters"): a cut in the text is put on
the clock at the same share of the segment's characters among the words, and between the segment's
ends where no word is timed. The limits are those of common broadcast and streaming subtitle
guidance (e.g. 42 characters a line, 2 lines, about 7 seconds).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from core.jobs import Segment, Transcript

MAX_LINE = 42
MAX_LINES = 2
MAX_SECONDS = 7.0
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
_PUNCTUATION = ".,;:?!\"'()[]"


Clock = Callable[[int, bool], float]
"""The time at a character position of a segment's (normalised) text: where a cue ending there ends
(`True`), or where one starting there starts (`False`); they differ across a pause between words."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    """Its lines, joined by a newline."""


def cues(transcript: Transcript) -> list[Cue]:
    return [cue for segment in transcript.segments if segment.text.strip() for cue in segment_cues(segment)]


def segment_cues(segment: Segment) -> list[Cue]:
    text = " ".join(segment.text.split())
    clock = _clock(segment, text)
    spans = _merge([span for sentence in _split(text, 0, len(text), _SENTENCE_END)
                    for span in _fit(text, sentence, clock)], text, clock)
    return [Cue(round(clock(a, False), 3), round(clock(b, True), 3), _lines(text[a:b].strip())) for a, b in spans]


def _split(text: str, start: int, end: int, at: re.Pattern[str]) -> list[tuple[int, int]]:
    """[start, end) of text cut where `at` matches (the spaces stay at the end of the left piece)."""
    cuts = [start, *(m.end() for m in at.finditer(text, start, end)), end]
    return [(a, b) for a, b in itertools.pairwise(cuts) if text[a:b].strip()]


def _fits(text: str, span: tuple[int, int], clock: Clock) -> bool:
    a, b = span
    return len(text[a:b].strip()) <= MAX_LINE * MAX_LINES and clock(b, True) - clock(a, False) <= MAX_SECONDS


def _fit(text: str, span: tuple[int, int], clock: Clock) -> list[tuple[int, int]]:
    """A sentence as cues: whole if it fits, else cut at clause ends, else between words, each half again."""
    if _fits(text, span, clock):
        return [span]
    clauses = _split(text, *span, _CLAUSE_END)
    if len(clauses) > 1:
        return [piece for clause in _merge(clauses, text, clock) for piece in _fit(text, clause, clock)]
    a, b = span
    spaces = [m.end() for m in re.finditer(r"\s+", text[a:b].rstrip())]
    if not spaces:
        return [span]  # one word: it is what it is
    middle = min(spaces, key=lambda n: abs(2 * n - (b - a)))
    return [*_fit(text, (a, a + middle), clock), *_fit(text, (a + middle, b), clock)]


def _merge(spans: list[tuple[int, int]], text: str, clock: Clock) -> list[tuple[int, int]]:
    """Neighbouring spans joined into one cue while the join still fits."""
    merged: list[tuple[int, int]] = []
    for span in spans:
        if merged and _fits(text, (merged[-1][0], span[1]), clock):
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return merged


def _lines(text: str) -> str:
    """At most two lines, broken at the space that balances them best (one line if it fits)."""
    if len(text) <= MAX_LINE:
        return text
    spaces = [m.start() for m in re.finditer(" ", text)]
    fitting = [n for n in spaces if n <= MAX_LINE and len(text) - n - 1 <= MAX_LINE] or spaces
    if not fitting:
        return text
    at = min(fitting, key=lambda n: abs(2 * n - len(text)))
    return text[:at] + "\n" + text[at + 1:]


def _clock(segment: Segment, text: str) -> Clock:
    timed = [(w.word, w.start, w.end) for w in segment.words or [] if w.start is not None and w.end is not None]
    if not timed or not text:
        start, end, length = segment.start, segment.end, len(text)
        return lambda position, _ending: start + (end - start) * position / max(1, length)
    boundary = _spoken_boundaries(text.split(), [word for word, _, _ in timed])

    def clock(position: int, ending: bool) -> float:
        spoken = boundary[len(text[:position].split())]  # spoken words wholly before the cut
        if ending:
            return timed[spoken - 1][2] if spoken else timed[0][1]
        return timed[spoken][1] if spoken < len(timed) else timed[-1][2]

    return clock


def _spoken_boundaries(written: list[str], spoken: list[str]) -> list[int]:
    """For each cut before written word k (0..len), the spoken words before it. The written words are the
    formatted ones ("5 mm"), the spoken ones as said ("five millimeters"): what is the same is matched
    (difflib's longest matching blocks), what formatting changed is spread over what it replaced."""
    def bare(words: list[str]) -> list[str]:
        return [w.strip(_PUNCTUATION).lower() for w in words]

    boundary = [0] * (len(written) + 1)
    matcher = difflib.SequenceMatcher(None, bare(written), bare(spoken), autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        for d in range(i2 - i1 + 1):
            boundary[i1 + d] = j1 + (d if i2 - i1 == j2 - j1 else round(d * (j2 - j1) / max(1, i2 - i1)))
    boundary[len(written)] = len(spoken)
    return boundary
