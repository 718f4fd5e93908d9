"""bench/live_latency.py's figures: where a final's speech ended, and its two latencies."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

from live_clips import Clip
from live_figures import Final, finals_of, quantiles, sent_at, speech_end, unheard
from live_sessions import Run, Streamed, offsets
from live_units import Histogram, split_lines

SPEECH = ((0.5, 2.0), (2.3, 4.0), (5.0, 9.0))


def rounded(final: Final) -> Final:
    return replace(final, **{k: round(v, 6) for k, v in asdict(final).items() if isinstance(v, float)})


def test_a_final_counts_from_the_end_of_the_last_speech_it_holds() -> None:
    assert speech_end(0.3, 4.2, SPEECH) == 4.0  # the endpointer cut 0.2 s into the pause
    assert speech_end(0.3, 2.2, SPEECH) == 2.0  # a final that ended at a short pause
    assert speech_end(4.2, 4.9, SPEECH) is None  # silence only


def test_a_final_cut_while_its_speaker_went_on_counts_from_its_own_end() -> None:
    assert speech_end(4.5, 7.0, SPEECH) == 7.0
    # A word's edge placed a little later by the reference VAD is still the final's.
    assert speech_end(1.9, 3.9, SPEECH) == 4.0


def test_audio_counts_as_sent_with_the_chunk_that_holds_it() -> None:
    sent = [(0.2, 10.2), (0.4, 10.4), (0.6, 10.6)]
    assert [sent_at(sent, s) for s in (0.1, 0.2, 0.35, 0.6, 0.7)] == [10.2, 10.2, 10.4, 10.6, 10.6]


def test_percentiles_are_nearest_rank_and_p99_of_few_finals_is_the_maximum() -> None:
    assert quantiles([float(n) for n in range(20, 0, -1)]) == {"p50": 10.0, "p90": 18.0, "p95": 19.0,
                                                              "p99": 20.0, "max": 20.0}


def test_arrival_patterns_start_sessions_together_or_apart() -> None:
    assert offsets("simultaneous", 3, 0.5, 2.0) == [0.0, 0.0, 0.0]
    assert offsets("staggered", 3, 0.5, 2.0) == [0.0, 0.5, 1.0]
    assert offsets("joining", 3, 0.5, 2.0) == [0.0, 2.0, 4.0]


def test_each_final_has_both_latencies_on_the_run_clock() -> None:
    clip = Clip("held01.joe", "joe", "pace 1", False, "colonoscopy", "a b c", b"\0\0" * 16000 * 10, SPEECH)
    session = Streamed(clip, 0, 1.0, started=100.0, sent=[(0.2 * n, 100.0 + 0.2 * n) for n in range(1, 51)],
                       messages=[{"type": "partial", "text": "a", "start": 0.3},
                                 {"type": "final", "segment": 0, "text": "a b", "start": 0.3, "end": 4.2},
                                 {"type": "final", "segment": 1, "text": "c", "start": 4.2, "end": 9.0}],
                       arrived=[101.0, 104.9, 109.5])
    run = Run("heldout", "simultaneous", 1, 0, 1, 99.0, [session], [])
    first, second = finals_of(run)
    assert rounded(first) == Final(0, "held01.joe", 0, 0.3, 4.2, 4.0, 5.0, 5.2, 5.9, "a b")
    assert (round(first.latency or 0, 6), round(first.sent_latency, 6)) == (0.9, 0.7)
    assert rounded(second) == Final(0, "held01.joe", 0, 4.2, 9.0, 9.0, 10.0, 10.0, 10.5, "c")
    assert (round(second.latency or 0, 6), round(second.sent_latency, 6)) == (0.5, 0.5)
    assert unheard(session) == 0


def test_the_workers_unit_split_is_the_runs_share_of_its_histograms() -> None:
    before = {("final", "wait"): Histogram(0.5, 2, {0.25: 2, 1.0: 2, 10.0: 2, float("inf"): 2})}
    after = {("final", "wait"): Histogram(12.5, 6, {0.25: 3, 1.0: 4, 10.0: 5, float("inf"): 6})}
    assert split_lines(before, after) == [
        "    final   wait      4 units, mean 3.000 s, p50 ≤ 1 s, p95 > 10 s, p99 > 10 s, max > 10 s"]
