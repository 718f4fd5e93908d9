"""Review flags: each reason trips on what it names and stays quiet on clean text; only text over digital silence
that the model itself doubted is removed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.jobs import Segment, Word
from core.review import ReviewThresholds, compression_ratio, remove_silent_text, review
from core.review_flags import ReviewReason


def words(text: str, start: float, probability: float = 0.95, each: float = 0.4) -> list[Word]:
    return [Word(word=w, start=round(start + i * each, 3), end=round(start + (i + 1) * each - 0.05, 3),
                 probability=probability) for i, w in enumerate(text.split())]


def segment(text: str, start: float = 0.0, **fields: object) -> Segment:
    timed = fields.pop("words", None) or words(text, start)
    end = float(fields.pop("end", timed[-1].end or 0.0))  # type: ignore[arg-type]
    return Segment(start=start, end=end, text=text, words=timed, avg_logprob=fields.pop("avg_logprob", -0.2),
                   no_speech_prob=fields.pop("no_speech_prob", 0.05))


def reasons(segments: list[Segment], **kwargs: object) -> list[tuple[ReviewReason, str]]:
    return [(f.reason, f.text) for f in review(segments, **kwargs)]  # type: ignore[arg-type]


def loud(_start: float, _end: float) -> float:
    return -20.0


def test_clean_confident_speech_without_numbers_has_no_flags() -> None:
    assert reasons([segment("The scope was advanced to the cecum without difficulty.")], loudness=loud) == []


def test_low_probability_words_are_flagged_as_one_run_with_the_worst_probability() -> None:
    timed = [*words("The polyp was", 0.0), *words("sessile pedunculated", 1.2, probability=0.2),
             *words("in the cecum.", 2.0)]
    timed[3].probability = 0.1

    [flag] = review([segment("The polyp was sessile pedunculated in the cecum.", words=timed)], loudness=loud)

    assert (flag.reason, flag.text, flag.value, flag.start) == (ReviewReason.LOW_WORD_PROBABILITY,
                                                                "sessile pedunculated", 0.1, 1.2)


@pytest.mark.parametrize(("fields", "reason"), [
    ({"avg_logprob": -1.4}, ReviewReason.DOUBTFUL_DECODE),
    ({"no_speech_prob": 0.9}, ReviewReason.NO_SPEECH),
])
def test_the_decoders_own_doubt_flags_the_whole_segment(fields: dict[str, float], reason: ReviewReason) -> None:
    text = "Thank you for watching and see you next time."
    assert reasons([segment(text, **fields)], loudness=loud) == [(reason, text)]  # type: ignore[arg-type]


def test_words_over_silence_are_flagged_where_the_audio_is_quiet() -> None:
    text = "The procedure was well tolerated. Thank you."
    quiet_after = 2.0  # "Thank you." (from 2.0 s) is over silence

    def level(start: float, _end: float) -> float:
        return -70.0 if start >= quiet_after else -20.0

    assert reasons([segment(text)], loudness=level) == [(ReviewReason.QUIET_AUDIO, "Thank you.")]


def test_a_loop_and_text_too_long_for_its_speech_are_flagged() -> None:
    loop = "The polyp was removed. The polyp was removed. The polyp was removed."
    crammed = "The cecum was reached and the appendiceal orifice and ileocecal valve were photographed."

    assert (ReviewReason.REPEATED_WORDS, loop) in reasons([segment(loop)], loudness=loud)
    assert compression_ratio(loop) > compression_ratio(crammed)
    squeezed = segment(crammed, words=[Word(word=w, start=i * 0.1, end=i * 0.1 + 0.08, probability=0.9)
                                       for i, w in enumerate(crammed.split())])
    assert [r for r, _ in reasons([squeezed], loudness=loud)] == [ReviewReason.TOO_MUCH_TEXT]


def test_a_word_repeated_for_emphasis_is_not_a_loop() -> None:
    assert reasons([segment("Very very good preparation of the colon.")], loudness=loud) == []


def test_numbers_units_and_vocabulary_corrections_are_always_shown_but_are_not_doubt() -> None:
    heard = segment("A polyp in the secum was removed.")
    corrected = segment("A polyp in the cecum was removed.")
    formatted = segment("A 5 mm polyp in the cecum was removed with 2 mg of midazolam.")

    flags = review([formatted], loudness=loud, lexicon=([heard], [corrected]))

    assert [(f.reason, f.text) for f in flags] == [
        (ReviewReason.NUMBER_OR_UNIT, "5 mm"), (ReviewReason.NUMBER_OR_UNIT, "2 mg"),
        (ReviewReason.VOCABULARY_CORRECTED, "cecum"),
    ]
    assert not any(f.reason.doubt for f in flags)


def test_thresholds_are_the_measured_ones_and_can_be_moved() -> None:
    timed = words("The mucosa looked normal.", 0.0, probability=0.5)
    strict = ReviewThresholds(word_probability=0.6)

    assert reasons([segment("The mucosa looked normal.", words=timed)], loudness=loud) == []
    assert reasons([segment("The mucosa looked normal.", words=timed)], loudness=loud, thresholds=strict) == [
        (ReviewReason.LOW_WORD_PROBABILITY, "The mucosa looked normal.")]


@pytest.mark.parametrize("reason", list(ReviewReason))
def test_every_reason_tells_the_reviewer_what_it_means(reason: ReviewReason) -> None:
    assert reason.meaning and "\n" not in reason.meaning


def silent_after(seconds: float) -> Callable[[float, float], float]:
    """A recording that is digital silence (-120 dBFS) from `seconds` on, speech before."""
    def level(start: float, _end: float) -> float:
        return -120.0 if start >= seconds else -20.0

    return level


def test_words_over_digital_silence_that_the_model_doubted_are_removed() -> None:
    spoken = segment("The procedure was well tolerated. Thank you.", no_speech_prob=0.7)

    [kept] = remove_silent_text([spoken], silent_after(2.0))

    assert kept.text == "The procedure was well tolerated."
    assert [w.word for w in kept.words or []] == ["The", "procedure", "was", "well", "tolerated."]
    assert (kept.start, kept.avg_logprob, kept.no_speech_prob) == (spoken.start, spoken.avg_logprob, 0.7)


def test_a_segment_of_nothing_but_text_over_digital_silence_goes() -> None:
    invented = segment("Thank you for watching.", start=10.0, no_speech_prob=0.9)

    assert remove_silent_text([segment("The cecum was reached."), invented], silent_after(10.0)) == [
        segment("The cecum was reached.")]


def test_words_the_model_was_sure_of_stay_even_where_their_timing_lands_in_silence() -> None:
    # Cross-attention timing squeezes the last words of a phrase onto the edge of a pause.
    confident = segment("in the sigmoid colon.", no_speech_prob=0.01)

    assert remove_silent_text([confident], silent_after(0.0)) == [confident]


@pytest.mark.parametrize("level", [-85.0, -60.0])
def test_quiet_but_not_digitally_silent_audio_keeps_its_words(level: float) -> None:
    # A soft voice or a quiet room is never removed: it is flagged (quiet_audio) for the reviewer instead.
    doubted = segment("The patient tolerated the procedure well.", no_speech_prob=0.9)

    assert remove_silent_text([doubted], lambda _s, _e: level) == [doubted]
    assert remove_silent_text([doubted], None) == [doubted]
