"""Subtitle cues a reader can follow: a segment of several sentences is cut at sentence ends, then clause
ends, then between words, into cues of at most 7 s and two lines of 42 characters, timed by its words."""

from __future__ import annotations

import itertools

from core.jobs import Segment, Transcript, Word
from core.renderers import render
from core.subtitles import MAX_LINE, MAX_SECONDS, cues

# The 15-s fixture's one window, as it came back before: one 14.6-s cue of four sentences.
TEXT = ("The patient was placed in the left lateral position. The scope was advanced to the cecum. "
        "A 5 mm sessile polyp was removed with a cold snare. There were no complications.")


def spoken_words(text: str, start: float, end: float) -> list[Word]:
    """The text's words timed evenly across [start, end], as the model's alignment would roughly place them."""
    words = text.split()
    step = (end - start) / len(words)
    return [Word(word=w, start=round(start + i * step, 3), end=round(start + (i + 1) * step - 0.05, 3))
            for i, w in enumerate(words)]


def transcript(segment: Segment) -> Transcript:
    return Transcript(text=segment.text, language="en", duration=segment.end, segments=[segment])


def test_a_window_of_four_sentences_becomes_cues_of_at_most_seven_seconds_and_two_short_lines() -> None:
    segment = Segment(start=0.2, end=14.8, text=TEXT)

    found = cues(transcript(segment))

    assert " ".join(c.text.replace("\n", " ") for c in found) == TEXT  # every word, once, in order
    assert len(found) >= 3
    for cue in found:
        assert cue.end - cue.start <= MAX_SECONDS
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= MAX_LINE for line in lines)
    assert found[0].start == 0.2 and found[-1].end == 14.8
    assert all(a.end == b.start for a, b in itertools.pairwise(found))  # no gaps, no overlaps
    # Sentences are not cut while they fit: each cue ends a sentence here.
    assert all(c.text.endswith(".") for c in found)


def test_cue_times_follow_the_words_as_spoken_not_an_even_spread() -> None:
    spoken = "the scope was advanced to the cecum. a five millimeter polyp was seen."
    words = [*spoken_words("the scope was advanced to the cecum.", 1.0, 3.0),
             *spoken_words("a five millimeter polyp was seen.", 9.0, 11.0)]
    assert " ".join(w.word for w in words) == spoken
    segment = Segment(start=0.5, end=11.5, text="The scope was advanced to the cecum. A 5 mm polyp was seen.",
                      words=words)

    first, second = cues(transcript(segment))

    assert first.text == "The scope was advanced to the cecum."
    # Each cue is on screen while its words are spoken: the pause between them (3-9 s) is no cue's, and
    # the cut is not put halfway through the window.
    assert (first.start, first.end) == (1.0, 2.95)
    assert (second.start, second.end) == (9.0, 10.95)


def test_a_long_sentence_is_cut_at_a_clause_end_and_an_unbroken_one_between_words() -> None:
    clauses = ("Withdrawal time was eight minutes, the preparation was adequate in every segment, "
               "and the terminal ileum was intubated and appeared normal throughout its length.")
    no_clauses = " ".join(["word"] * 40)

    by_clause = cues(transcript(Segment(start=0, end=12, text=clauses)))
    by_word = cues(transcript(Segment(start=0, end=20, text=no_clauses)))

    assert by_clause[0].text.replace("\n", " ").endswith(",")
    for found in (by_clause, by_word):
        assert all(c.end - c.start <= MAX_SECONDS and all(len(x) <= MAX_LINE for x in c.text.split("\n"))
                   for c in found)
    assert sum(c.text.count("word") for c in by_word) == 40


def test_srt_and_vtt_number_and_time_each_cue() -> None:
    srt = render(transcript(Segment(start=0.2, end=14.8, text=TEXT)), "srt")

    blocks = srt.strip().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == [str(n) for n in range(1, len(blocks) + 1)]
    assert blocks[0].split("\n")[1].startswith("00:00:00,200 --> ")
