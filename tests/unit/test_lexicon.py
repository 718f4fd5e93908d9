"""Lexicon correction: near-misses of vocabulary terms become the terms; everything else stays."""

from __future__ import annotations

import pytest

from core.jobs import JobOptions, Segment, Transcript
from core.settings import VocabularySettings
from core.tuning import VocabularyTuning
from core.vocabulary import VocabularyPhrase, builtin_terms
from worker.text.lexicon import correct, correct_job

TERMS = builtin_terms("colonoscopy") + builtin_terms("ercp") + builtin_terms("sigmoidoscopy") + builtin_terms("egd")


def fix(text: str, phrases: list[VocabularyPhrase] | None = None) -> tuple[str, list[tuple[str, str]]]:
    transcript = Transcript(text=text, language="en", duration=1.0, segments=[Segment(start=0, end=1, text=text)])
    corrected, applied = correct(transcript, TERMS, phrases or [])
    return corrected.text, applied


@pytest.mark.parametrize(("heard", "written", "applied"), [
    ("Two hemo clips were placed.", "Two hemoclips were placed.", [("hemo clips", "hemoclips")]),
    ("Hemo clips were placed.", "Hemoclips were placed.", [("Hemo clips", "Hemoclips")]),
    ("the append ical orifice", "the appendiceal orifice", [("append ical orifice", "appendiceal orifice")]),
    ("a sphincter atome was used", "a sphincterotome was used", [("sphincter atome", "sphincterotome")]),
    ("the ileo cecal valve,", "the ileocecal valve,", [("ileo cecal valve", "ileocecal valve")]),
    ("two milligrams of midazolum", "two milligrams of midazolam", [("midazolum", "midazolam")]),
])
def test_near_misses_become_terms(heard: str, written: str, applied: list[tuple[str, str]]) -> None:
    assert fix(heard) == (written, applied)


@pytest.mark.parametrize("text", [
    "a sessile polyp in the cecum",            # already terms
    "the polyps were removed",                 # a plural of a term
    "pedunculated polyps and diverticula",
    "the second portion was normal",           # ordinary words, nothing close
    "a cecal polyp",                           # "cecal" is a word of its own, not a near-miss of "sessile"
    "a 12 mm polyp at 25 cm",                  # numbers are never touched
    "the colon was normal",
    "rectal indomethacin 100 mg",              # a number beside a term is never swallowed
    "lidocaine 1% was used",
    "withdrawal time one",
    "Los Angeles grade B esophagitis",
    "flexible sigmoidoscopy with the sigmoidoscopy",   # another word of the family, not a mishearing
    "esophageal variceal band ligation",
])
def test_what_is_right_or_unsure_is_left_alone(text: str) -> None:
    assert fix(text) == (text, [])


def test_a_jobs_sounds_like_and_display_as_are_applied_outright() -> None:
    phrases = [VocabularyPhrase(phrase="Helicobacter pylori", sounds_like=["helico back there"],
                                display_as="H. pylori"),
               VocabularyPhrase(phrase="sessile", sounds_like=["cecal"])]
    assert fix("biopsies for helico back there. A cecal polyp.", phrases) == (
        "biopsies for H. pylori. A sessile polyp.", [("helico back there", "H. pylori"), ("cecal", "sessile")])
    assert fix("biopsies for Helicobacter pylori", phrases)[0] == "biopsies for H. pylori"


def test_the_setting_turns_the_built_in_correction_off_but_not_a_jobs_own() -> None:
    transcript = Transcript(text="hemo clips; helico", language="en", duration=1.0,
                            segments=[Segment(start=0, end=1, text="hemo clips; helico")])
    own = JobOptions(vocabulary=[VocabularyPhrase(phrase="Helicobacter", sounds_like=["helico"])])
    off = VocabularySettings(tuning=VocabularyTuning(lexicon=False))
    assert correct_job(transcript, JobOptions(), off) is transcript
    corrected = correct_job(transcript, own, off)
    assert (corrected.text, corrected.raw_text) == ("hemo clips; Helicobacter", "hemo clips; helico")
    assert correct_job(transcript, own, VocabularySettings()).text == "hemoclips; Helicobacter"
