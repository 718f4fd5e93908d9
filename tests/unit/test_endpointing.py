"""Endpointing and LocalAgreement-2: where a live utterance ends, which words of it are stable."""

from __future__ import annotations

from core.settings import LiveSettings
from core.tuning import LiveTuning
from worker.live.endpointing import Cut, CutKind, LocalAgreement, cut, pause_that_ends
from worker.model.transcriber import Window

SETTINGS = LiveSettings(tuning=LiveTuning(endpoint_silence_seconds=0.6, endpoint_min_silence_seconds=0.6,
                                          max_utterance_seconds=20, endpoint_short_utterance_seconds=0))
DYNAMIC = LiveSettings(tuning=LiveTuning(endpoint_silence_seconds=0.3, endpoint_min_silence_seconds=0.15,
                                         max_utterance_seconds=20, endpoint_short_utterance_seconds=0))


def test_partials_show_only_what_the_last_two_hypotheses_agree_on_and_never_shrink() -> None:
    agreement = LocalAgreement()

    shown = [list(agreement.update(h)) for h in (
        "Sessile",
        "Sessile polyp in",
        "Sessile polyp in the sea come",
        "sessile polyp, in the cecum five",
        "Sessile polyp in the cecum, 5 mm.",
        "Sessile polyp",
    )]

    assert shown == [
        [],
        ["Sessile"],
        ["Sessile", "polyp", "in"],
        ["Sessile", "polyp", "in", "the"],
        ["Sessile", "polyp", "in", "the", "cecum,"],
        ["Sessile", "polyp", "in", "the", "cecum,"],
    ]
    agreement.reset()
    assert agreement.update("Next") == []


def test_an_utterance_goes_on_as_partials_until_a_pause_ends_it() -> None:
    assert cut(2.0, [Window(0.5, 1.9)], False, SETTINGS) == Cut(CutKind.PARTIAL, 0.3, 2.0)
    assert cut(2.6, [Window(0.5, 1.9)], False, SETTINGS) == Cut(CutKind.FINAL, 0.3, 2.1)


def test_a_long_utterance_is_cut_at_the_limit_and_an_ending_session_takes_everything_left() -> None:
    assert cut(20.0, [Window(0.0, 19.9)], False, SETTINGS) == Cut(CutKind.FINAL, 0.0, 20.0)
    assert cut(1.0, [Window(0.1, 0.5)], True, SETTINGS) == Cut(CutKind.FINAL, 0.0, 1.0)


def test_a_worker_that_fell_behind_still_cuts_at_each_pause_and_never_past_the_limit() -> None:
    behind = [Window(0.0, 3.0), Window(3.5, 9.0), Window(9.8, 30.0), Window(30.1, 45.0)]
    assert cut(45.0, behind, True, SETTINGS) == Cut(CutKind.FINAL, 0.0, 9.2)
    assert cut(45.0, behind[2:], False, SETTINGS) == Cut(CutKind.FINAL, 9.6, 29.6)
    assert cut(45.0, behind[2:], True, SETTINGS) == Cut(CutKind.FINAL, 9.6, 29.6)


def test_silence_waits_a_little_then_is_dropped_and_an_ending_silent_tail_has_nothing_to_decode() -> None:
    assert cut(2.0, [], False, SETTINGS) is None
    assert cut(4.0, [], False, SETTINGS) == Cut(CutKind.SKIP, 0.0, 3.0)
    assert cut(4.0, [], True, SETTINGS) is None


def test_the_first_pause_inside_the_utterance_ends_it_even_when_seen_late() -> None:
    windows = [Window(0.0, 1.0), Window(1.1, 2.0), Window(2.8, 3.5), Window(4.5, 5.0)]

    assert cut(5.2, windows, False, SETTINGS) == Cut(CutKind.FINAL, 0.0, 2.2)


def test_a_breath_ends_an_utterance_once_it_is_long() -> None:
    assert [pause_that_ends(s, DYNAMIC) for s in (0.0, 4.9, 5.0, 15.0)] == [0.3, 0.3, 0.15, 0.15]
    breaths = [Window(0.0, 2.0), Window(2.2, 5.5), Window(5.67, 12.0)]
    # A 0.2 s breath 2 s in does not end it, a 0.17 s one 5.5 s in does: the final fits a 15 s window
    # and is decoded while the talker goes on.
    assert cut(12.0, breaths, False, DYNAMIC) == Cut(CutKind.FINAL, 0.0, 5.585)
    assert cut(9.0, [Window(0.0, 6.0), Window(6.2, 9.0)], False, DYNAMIC) == Cut(CutKind.FINAL, 0.0, 6.1)
    # Past 5 s of speech, 0.15 s of silence at the end is enough.
    assert cut(6.16, [Window(0.0, 6.0)], False, DYNAMIC) == Cut(CutKind.FINAL, 0.0, 6.16)
    assert cut(6.1, [Window(0.0, 6.0)], False, DYNAMIC) == Cut(CutKind.PARTIAL, 0.0, 6.1)


def test_a_too_long_utterance_is_cut_at_its_last_breath_before_the_limit() -> None:
    breaths = [Window(0.0, 9.0), Window(9.15, 19.5), Window(19.62, 25.0)]
    assert cut(25.0, breaths, False, SETTINGS) == Cut(CutKind.FINAL, 0.0, 19.56)
    # A gap shorter than a breath is not one: cut at the limit.
    assert cut(25.0, [Window(0.0, 19.5), Window(19.55, 25.0)], False, SETTINGS) == Cut(CutKind.FINAL, 0.0, 20.0)


def test_a_word_or_two_alone_ends_only_at_a_real_stop_and_joins_the_words_after_a_short_pause() -> None:
    settings = LiveSettings(tuning=LiveTuning(endpoint_silence_seconds=0.3, endpoint_min_silence_seconds=0.15,
                                           endpoint_short_utterance_seconds=3.0, endpoint_short_silence_seconds=1.0))
    assert [pause_that_ends(s, settings) for s in (0.0, 2.9, 3.0, 8.0)] == [1.0, 1.0, 0.3, 0.15]
    # "Procedure." (0.8 s), a 0.4 s pause, "colonoscopy, indication." (2 s), a 0.4 s pause, more.
    words = [Window(0.2, 1.0), Window(1.4, 3.4), Window(3.8, 6.0)]
    assert cut(6.0, words, False, settings) == Cut(CutKind.FINAL, 0.0, 3.6)
    assert cut(1.8, words[:1], False, settings) == Cut(CutKind.PARTIAL, 0.0, 1.8)
    assert cut(2.0, words[:1], False, settings) == Cut(CutKind.FINAL, 0.0, 1.2)


def test_a_pause_judged_too_short_is_not_judged_again_when_vad_moves_its_edges() -> None:
    # A look found 0.29 s between two stretches of speech: no end. The next look, started afresh, finds
    # the second stretch 30 ms later: 0.32 s. It stays judged, and the utterance goes on.
    assert cut(4.8, [Window(0.0, 3.39), Window(3.68, 4.8)], False, DYNAMIC) == Cut(CutKind.PARTIAL, 0.0, 4.8)
    moved = [Window(0.0, 3.39), Window(3.71, 5.2)]
    assert cut(5.2, moved, False, DYNAMIC, judged=3.68) == Cut(CutKind.PARTIAL, 0.0, 5.2)
    assert cut(5.2, moved, False, DYNAMIC) == Cut(CutKind.FINAL, 0.0, 3.55)  # judged afresh, it would end
    # A pause after the judged point is judged as usual.
    assert cut(5.8, [*moved, Window(5.6, 5.8)], False, DYNAMIC, judged=3.68) == Cut(CutKind.FINAL, 0.0, 5.4)
