"""Review flags: the stretches of a transcript a clinician must look at before signing, and why.

Whisper invents text now and then (over silence, noise, music), and mishears terms and numbers. The
worker keeps what says how sure the model was (each word's probability, each window's mean
log-probability and no-speech probability) and what the audio was like under the text; this module
turns them into flags. A flag marks text, it never removes it; the one exception is
`remove_silent_text`, which drops words over digital silence that the model itself doubted (nothing can
have been said there), before the transcript is formatted and flagged.

The thresholds are measured by `bench/review.py` on the hallucination-bait dev set
(`bench/devset/make_bait.py`); the figures are on the review benchmark's dated docs page. Where
Whisper itself has a threshold for the same statistic (`logprob_threshold` -1.0,
`compression_ratio_threshold` 2.4, `no_speech_threshold` 0.6), the bench measured it too.
"""

from __future__ import annotations

import difflib
import re
import zlib
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from core.jobs import Segment, Word
from core.review_flags import ReviewFlag, ReviewReason


class ReviewThresholds(BaseModel):
    """Where each statistic starts to flag, measured by `bench/review.py` on the hallucination-bait dev set:
    no point of its sweep flags fewer correct clean words at these thresholds' share of misheard ones, and
    they flag every invented stretch of its tune split (the figures, and what is not yet shown: the dated
    review-flags pages under docs/benchmarks/)."""

    word_probability: float = 0.35
    avg_logprob: float = -1.0
    compression_ratio: float = 2.4
    no_speech_prob: float = 0.6
    quiet_dbfs: float = -45.0
    chars_per_second: float = 28.0


Loudness = Callable[[float, float], float]
"""The audio's RMS level in dBFS between two times (seconds) of the recording."""

_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b(?:\s*(?:%|mm|cm|mg|mcg|ml|mL|g|kg|units?|French|Fr|minutes?|cm H2O))?")
_UNIT_WORD = re.compile(r"\b(?:milligrams?|micrograms?|millimeters?|centimeters?|milliliters?)\b", re.IGNORECASE)


def review(segments: Sequence[Segment], loudness: Loudness | None = None,
           lexicon: tuple[Sequence[Segment], Sequence[Segment]] | None = None,
           thresholds: ReviewThresholds | None = None) -> list[ReviewFlag]:
    """Every flag of a transcript's (formatted) segments, in time order. `lexicon`: the segments before
    and after vocabulary correction (so corrected words are flagged); `loudness`: the recording's levels
    (so text over silence is flagged)."""
    limits = thresholds or ReviewThresholds()
    flags: list[ReviewFlag] = []
    for n, segment in enumerate(segments):
        if not segment.text.strip():
            continue
        flags += _segment_flags(n, segment, limits)
        flags += _word_flags(n, segment, limits, loudness)
        flags += _repeats(n, segment)
        flags += _numbers(n, segment)
        if lexicon is not None and n < min(len(lexicon[0]), len(lexicon[1])):
            flags += _corrected(n, lexicon[0][n], lexicon[1][n])
    return sorted(flags, key=lambda f: (f.start, f.segment, f.reason))


def compression_ratio(text: str) -> float:
    """Whisper's measure of repetitiveness: the text's length over its zlib-compressed length."""
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _whole(n: int, segment: Segment, reason: ReviewReason, value: float) -> ReviewFlag:
    return ReviewFlag(reason=reason, segment=n, start=segment.start, end=segment.end, text=segment.text,
                      value=round(value, 4))


def _segment_flags(n: int, segment: Segment, limits: ReviewThresholds) -> list[ReviewFlag]:
    flags = []
    ratio = compression_ratio(segment.text)
    if segment.avg_logprob is not None and segment.avg_logprob < limits.avg_logprob:
        flags.append(_whole(n, segment, ReviewReason.DOUBTFUL_DECODE, segment.avg_logprob))
    elif ratio > limits.compression_ratio:
        flags.append(_whole(n, segment, ReviewReason.DOUBTFUL_DECODE, ratio))
    if segment.no_speech_prob is not None and segment.no_speech_prob > limits.no_speech_prob:
        flags.append(_whole(n, segment, ReviewReason.NO_SPEECH, segment.no_speech_prob))
    speech = _speech_seconds(segment)
    if speech > 0 and len(segment.text) / speech > limits.chars_per_second:
        flags.append(_whole(n, segment, ReviewReason.TOO_MUCH_TEXT, len(segment.text) / speech))
    return flags


def _speech_seconds(segment: Segment) -> float:
    timed = [w for w in segment.words or [] if w.start is not None and w.end is not None]
    if timed:
        return sum(w.end - w.start for w in timed if w.end is not None and w.start is not None)
    return segment.end - segment.start


def _word_flags(n: int, segment: Segment, limits: ReviewThresholds, loudness: Loudness | None) -> list[ReviewFlag]:
    """Runs of neighbouring words that each trip one statistic, as one flag per run."""
    timed = [w for w in segment.words or [] if w.start is not None and w.end is not None]
    flags = _runs(n, timed, ReviewReason.LOW_WORD_PROBABILITY,
                  lambda w: w.probability if w.probability is not None and w.probability < limits.word_probability
                  else None)
    if loudness is not None:
        flags += _runs(n, timed, ReviewReason.QUIET_AUDIO,
                       lambda w: level if (level := loudness(w.start or 0.0, w.end or 0.0)) < limits.quiet_dbfs
                       else None)
    return flags


def _runs(n: int, words: list[Word], reason: ReviewReason, tripped: Callable[[Word], float | None]) -> list[ReviewFlag]:
    flags: list[ReviewFlag] = []
    run: list[tuple[Word, float]] = []
    for word in [*words, None]:
        value = tripped(word) if word is not None else None
        if value is not None and word is not None:
            run.append((word, value))
            continue
        if run:
            worst = min(v for _, v in run)
            flags.append(ReviewFlag(reason=reason, segment=n, start=run[0][0].start or 0.0,
                                    end=run[-1][0].end or 0.0, text=" ".join(w.word for w, _ in run),
                                    value=round(worst, 4)))
            run = []
    return flags


def _repeats(n: int, segment: Segment) -> list[ReviewFlag]:
    """A run of 1-4 words said three times or more in a row (a 2+-word run twice), as Whisper loops."""
    words = segment.text.split()
    bare = [w.strip(".,;:?!").lower() for w in words]
    for size in (4, 3, 2, 1):
        for i in range(len(bare) - 2 * size + 1):
            gram = bare[i:i + size]
            times = 1
            while bare[i + times * size:i + (times + 1) * size] == gram:
                times += 1
            if times >= (3 if size == 1 else 2) and any(len(g) > 2 for g in gram):
                text = " ".join(words[i:i + times * size])
                return [ReviewFlag(reason=ReviewReason.REPEATED_WORDS, segment=n, start=segment.start,
                                   end=segment.end, text=text, value=float(times))]
    return []


def _numbers(n: int, segment: Segment) -> list[ReviewFlag]:
    found = [m.group(0).strip() for pattern in (_NUMBER, _UNIT_WORD) for m in pattern.finditer(segment.text)]
    return [ReviewFlag(reason=ReviewReason.NUMBER_OR_UNIT, segment=n, start=segment.start, end=segment.end, text=t)
            for t in dict.fromkeys(found)]


def _corrected(n: int, before: Segment, after: Segment) -> list[ReviewFlag]:
    was, now = before.text.split(), after.text.split()
    matcher = difflib.SequenceMatcher(None, [w.lower() for w in was], [w.lower() for w in now], autojunk=False)
    return [ReviewFlag(reason=ReviewReason.VOCABULARY_CORRECTED, segment=n, start=after.start, end=after.end,
                       text=" ".join(now[j1:j2]))
            for op, _, _, j1, j2 in matcher.get_opcodes() if op in {"replace", "insert"} and now[j1:j2]]



SILENT_DBFS = -90.0
"""Digital silence: no microphone's noise floor is this low (a quiet room through a headset is -70 to -60
dBFS); a muted input, a paused recorder or a spliced gap is (-112 dBFS after Opus)."""


def remove_silent_text(segments: Sequence[Segment], loudness: Loudness | None, silent_dbfs: float = SILENT_DBFS,
                       no_speech_prob: float = 0.5) -> list[Segment]:
    """The segments without the words the model wrote over digital silence, where nothing can have been said.

    A word goes when the audio under it is below `silent_dbfs` and its segment's no-speech probability is
    at least `no_speech_prob` (the model itself doubted there was speech): cross-attention timing can
    squeeze a spoken word onto the edge of a silent gap, and the decoder's doubt is what tells the two
    apart. A segment left without words goes too. Untimed words, and everything without `loudness`, stay."""
    if loudness is None:
        return list(segments)
    kept: list[Segment] = []
    for segment in segments:
        words = segment.words or []
        doubted = segment.no_speech_prob is not None and segment.no_speech_prob >= no_speech_prob
        keep = [w for w in words if not doubted or w.start is None or w.end is None
                or loudness(w.start, w.end) >= silent_dbfs]
        if len(keep) == len(words):
            kept.append(segment)
        elif keep:
            kept.append(segment.model_copy(update={"text": " ".join(w.word for w in keep), "words": keep}))
    return kept
