"""What a review flag is (the stored shape); `core.review` finds them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class ReviewReason(StrEnum):
    """Why a stretch is flagged; declared once, with what a reviewer is told."""

    LOW_WORD_PROBABILITY = "low_word_probability"
    DOUBTFUL_DECODE = "doubtful_decode"
    NO_SPEECH = "no_speech"
    QUIET_AUDIO = "quiet_audio"
    REPEATED_WORDS = "repeated_words"
    TOO_MUCH_TEXT = "too_much_text"
    VOCABULARY_CORRECTED = "vocabulary_corrected"
    NUMBER_OR_UNIT = "number_or_unit"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]

    @property
    def doubt(self) -> bool:
        """A sign the text may be wrong (the others are shown whatever the model's confidence)."""
        return self not in {ReviewReason.VOCABULARY_CORRECTED, ReviewReason.NUMBER_OR_UNIT}


_MEANINGS = {
    ReviewReason.LOW_WORD_PROBABILITY: "the model gave these words a low probability",
    ReviewReason.DOUBTFUL_DECODE: "the model's decode of this stretch was unsure or repetitive (log-probability, "
                                  "compression ratio)",
    ReviewReason.NO_SPEECH: "the model judged this stretch to hold no speech, yet wrote text for it",
    ReviewReason.QUIET_AUDIO: "the audio under these words is silent or near-silent",
    ReviewReason.REPEATED_WORDS: "the same words repeat, as when the model loops",
    ReviewReason.TOO_MUCH_TEXT: "more text than the speech's length allows",
    ReviewReason.VOCABULARY_CORRECTED: "a vocabulary term replaced what the model heard",
    ReviewReason.NUMBER_OR_UNIT: "a number or a unit (a dose, a size): always check it",
}


class ReviewFlag(BaseModel):
    """One stretch to check: in segment `segment`, from `start` to `end` seconds, the words `text`."""

    reason: ReviewReason
    segment: int
    """Index into the transcript's segments."""
    start: float
    end: float
    text: str
    """The flagged words, as the segment's text (or, for word-level flags, as spoken) has them."""
    value: float | None = None
    """The statistic that tripped it (a probability, a log-probability, a ratio, characters per second)."""
