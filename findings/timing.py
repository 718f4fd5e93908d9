"""Where in the audio a character span of the formatted text was said.

The text is the segments' texts joined (formatting rewrites them in place), so each segment is found in
the text in order. Word timings, when alignment ran, keep the words as spoken (not as formatted): a span
is placed among them by its share of the segment's characters, which is exact at word level for text
formatting left alone and close for rewritten numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.jobs import Segment


@dataclass(frozen=True)
class _Placed:
    start: int
    end: int
    segment: Segment


class Timeline:
    def __init__(self, text: str, segments: Sequence[Segment]) -> None:
        self._placed: list[_Placed] = []
        cursor = 0
        for segment in segments:
            at = text.find(segment.text, cursor) if segment.text else -1
            if at < 0:
                continue
            self._placed.append(_Placed(at, at + len(segment.text), segment))
            cursor = at + len(segment.text)

    def seconds(self, start: int, end: int) -> tuple[float | None, float | None]:
        """The audio start and end of `text[start:end]`, or (None, None) when no segment holds it."""
        hits = [p for p in self._placed if p.start < end and start < p.end]
        if not hits:
            return None, None
        return self._at(hits[0], start, first=True), self._at(hits[-1], end, first=False)

    @staticmethod
    def _at(placed: _Placed, offset: int, first: bool) -> float:
        segment = placed.segment
        timed = [w for w in segment.words or [] if w.start is not None and w.end is not None]
        if not timed:
            return segment.start if first else segment.end
        share = min(max((offset - placed.start) / max(placed.end - placed.start, 1), 0.0), 1.0)
        index = min(math.floor(share * len(timed)) if first else math.ceil(share * len(timed)) - 1, len(timed) - 1)
        word = timed[max(index, 0)]
        return float(word.start if first else word.end)  # type: ignore[arg-type]
