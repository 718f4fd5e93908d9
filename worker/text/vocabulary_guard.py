"""Guard against Whisper losing speech after a prompt: decode such windows again without it.

A prompt (the vocabulary) makes Whisper likelier to lose a 30-second window's speech in two ways: it
stops early (the text comes out far shorter than the speech) or it loops, writing prompt terms over
and over ("hypoechoic, hypoechoic, ...") instead of what was said; WhisperX's batched decoding has no
temperature fallback to catch the loop. The scheduler calls `is_truncated` on every speech window it
decodes with a prompt (an empty text counts: a window dropped whole). `transcribe_guarded` does the
same over WhisperX's own `transcribe` (one segment per VAD window, plus stretches no segment covers),
for bench/wer.py's in-process measurements.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from core.jobs import Segment, Transcript
from worker.model.decoding import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np


class WholeTranscriber(Protocol):
    """One recording through WhisperX's `transcribe` (`ModelManager.transcribe`)."""

    def transcribe(
        self, audio: np.ndarray, *, language: str | None, initial_prompt: str | None, hotwords: str | None,
        progress_callback: Callable[[float], None],
    ) -> Transcript: ...

# Dictation runs at 2-3 words a second; on the dev set no unprompted window came out below 1.4, and
# truncated prompted windows fell to 0-0.8 (bench/wer.py prints both). Windows shorter than
# MIN_SECONDS hold a phrase or two, where the ratio says little.
MIN_WORDS_PER_SECOND = 1.0
MIN_SECONDS = 4.0
# Whisper's own loop test (`compression_ratio_threshold`): text that gzip shrinks more than this is
# repetition. On the dev set unprompted windows stayed at or under 1.8; looping ones scored 5 to 13.
MAX_COMPRESSION_RATIO = 2.4
# A stretch this long with no segment after prompting is re-decoded without the prompt; on silence
# VAD finds nothing and that costs almost nothing.
MAX_UNCOVERED_SECONDS = 6.0


def is_truncated(text: str, speech_seconds: float) -> bool:
    """True when a window's text has lost its speech: far shorter than the speech, or a loop."""
    encoded = text.encode()
    if len(encoded) > 50 and len(encoded) / len(zlib.compress(encoded)) > MAX_COMPRESSION_RATIO:
        return True
    if speech_seconds < MIN_SECONDS:
        return False
    return len(text.split()) < MIN_WORDS_PER_SECOND * speech_seconds


def transcribe_guarded(
    models: WholeTranscriber, audio: np.ndarray, *, language: str | None, initial_prompt: str | None,
    hotwords: str | None, progress_callback: Callable[[float], None], enabled: bool = True,
) -> Transcript:
    """`models.transcribe` with the prompt, then truncated or dropped windows again without it."""
    transcript = models.transcribe(audio, language=language, initial_prompt=initial_prompt, hotwords=hotwords,
                                   progress_callback=progress_callback)
    if not enabled or not (initial_prompt or hotwords):
        return transcript

    def redo(start: float, end: float) -> list[Segment]:
        window = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        # The callback still checks cancellation and the deadline; progress stays where it is.
        again = models.transcribe(window, language=language, initial_prompt=None, hotwords=None,
                                  progress_callback=lambda _: progress_callback(99.0))
        return [s.model_copy(update={"start": round(s.start + start, 3), "end": round(s.end + start, 3)})
                for s in again.segments]

    segments: list[Segment] = []
    covered = 0.0
    for segment in transcript.segments:
        if segment.start - covered >= MAX_UNCOVERED_SECONDS:
            segments.extend(redo(covered, segment.start))
        segments.extend(redo(segment.start, segment.end) if is_truncated(segment.text, segment.end - segment.start)
                        else [segment])
        covered = segment.end
    duration = audio.size / SAMPLE_RATE
    if duration - covered >= MAX_UNCOVERED_SECONDS:
        segments.extend(redo(covered, duration))
    if segments == transcript.segments:
        return transcript
    return transcript.model_copy(update={"segments": segments, "text": " ".join(s.text for s in segments)})
