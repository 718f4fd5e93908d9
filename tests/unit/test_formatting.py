"""Dictation formatting: spoken commands become marks and layout; numbers before units become numerals."""

from __future__ import annotations

import pytest

from core.jobs import JobOptions, Segment, Transcript
from worker.text.formatting import dictation_enabled, format_text, format_transcript


@pytest.mark.parametrize(("said", "written"), [
    # Spoken punctuation and layout, whatever punctuation Whisper put around the command.
    ("the cecum was reached period", "The cecum was reached."),
    ("It was removed with a hot snare, comma, and two hemoclips were placed, period.",
     "It was removed with a hot snare, and two hemoclips were placed."),
    ("removed with a snare comma. And clips were placed period.", "Removed with a snare, and clips were placed."),
    ("Findings, colon, a polyp period. New paragraph. Impression, colon, polyp, period.",
     "Findings: a polyp.\n\nImpression: polyp."),
    ("normal mucosa new line biopsies taken full stop", "Normal mucosa.\nBiopsies taken."),
    ("was the prep adequate question mark", "Was the prep adequate?"),
    ("one polyp semicolon no bleeding", "One polyp; no bleeding"),
    # The same words where they are not commands.
    ("The sigmoid colon was normal.", "The sigmoid colon was normal."),
    ("the colon, colon was prepped", "The colon, colon was prepped"),
    ("A short recovery period followed.", "A short recovery period followed."),
    ("the period of observation was brief", "The period of observation was brief"),
    # Numbers and units.
    ("advanced to thirty eight centimeters", "Advanced to 38 cm"),
    ("a five millimeter polyp", "A 5 mm polyp"),
    ("two milligrams of midazolam", "2 mg of midazolam"),
    ("one hundred micrograms of fentanyl", "100 mcg of fentanyl"),
    ("one hundred and fifty micrograms", "150 mcg"),
    ("two hundred fifty milligrams of propofol", "250 mg of propofol"),
    ("carvedilol six point two five milligrams", "Carvedilol 6.25 mg"),
    ("point five milligrams", "0.5 mg"),
    ("eight milliliters of epinephrine", "8 mL of epinephrine"),
    ("five cc of saline", "5 mL of saline"),
    ("lidocaine one percent", "Lidocaine 1%"),
    ("cefazolin one gram", "Cefazolin 1 g"),
    ("a 12-millimeter polyp", "A 12 mm polyp"),
    ("at 25 centimeters from the anal verge", "At 25 cm from the anal verge"),
    ("a twenty French PEG tube", "A 20 French PEG tube"),
    ("a twenty two gauge needle, three passes", "A 22 gauge needle, 3 passes"),
    ("withdrawal time was eleven minutes", "Withdrawal time was 11 minutes"),
    ("a sixty two year old woman", "A 62 year old woman"),
    ("ten millimeter by sixty millimeter stent", "10 mm by 60 mm stent"),
    ("measured twelve millimeters period new paragraph", "Measured 12 mm."),
    # Numbers without a unit stay as said: a score, a grade, a classification.
    ("Boston score of three, three, three", "Boston score of three, three, three"),
    ("Paris classification zero two a", "Paris classification zero two a"),
    ("grade one internal hemorrhoids", "Grade one internal hemorrhoids"),
    ("zero two millimeters", "Zero two millimeters"),
])
def test_dictation_is_written_as_a_note(said: str, written: str) -> None:
    assert format_text(said) == written


def test_segments_and_text_are_both_formatted_and_the_raw_text_is_kept() -> None:
    transcript = Transcript(text="Findings, colon, a five millimeter polyp, period. New paragraph. Plan colon repeat",
                            language="en", duration=9.0, segments=[
                                Segment(start=0.0, end=4.0, text="Findings, colon, a five millimeter polyp, period."),
                                Segment(start=4.5, end=9.0, text="New paragraph. Plan colon repeat"),
                            ])

    formatted = format_transcript(transcript, JobOptions(note_type="colonoscopy"))

    untimed = {"words": None, "avg_logprob": None, "no_speech_prob": None}
    assert formatted.model_dump() == {
        "text": "Findings: a 5 mm polyp.\n\nPlan: repeat",
        "raw_text": "Findings, colon, a five millimeter polyp, period. New paragraph. Plan colon repeat",
        "language": "en", "duration": 9.0,
        "segments": [{"start": 0.0, "end": 4.0, "text": "Findings: a 5 mm polyp.", **untimed},
                     {"start": 4.5, "end": 9.0, "text": "Plan: repeat", **untimed}],
        "review": None,  # the worker reviews the formatted text (after formatting)
        "commands": None, "unfilled_fields": None,  # formatting applies none: worker.text.dictating does
        "findings": None,  # formatting reads none; the worker's findings step does (after it)
    }


@pytest.mark.parametrize(("options", "enabled"), [
    (JobOptions(), False),
    (JobOptions(note_type="egd"), True),
    (JobOptions(note_type="egd", formatting="none"), False),
    (JobOptions(formatting="dictation"), True),
])
def test_dictation_formatting_is_the_default_only_for_a_note_type(options: JobOptions, enabled: bool) -> None:
    assert dictation_enabled(options) is enabled
    transcript = Transcript(text="five millimeters period", language="en", duration=2.0,
                            segments=[Segment(start=0, end=2, text="five millimeters period")])
    assert format_transcript(transcript, options).text == ("5 mm." if enabled else "five millimeters period")
