"""Built-in vocabularies, a job's own phrases, and the prompt and hotwords they make."""

from __future__ import annotations

import json
import re
from typing import Literal

import pytest

from api.errors import http_status_of
from core.jobs import JobOptions
from core.note_types import NOTE_TYPES
from core.settings import VocabularySettings
from core.tuning import VocabularyTuning
from core.vocabulary import (
    VocabularyInvalid,
    VocabularyPhrase,
    builtin_list,
    builtin_terms,
    check_note_type,
    decoding_prompt,
    parse_vocabulary,
    read_list,
)


def test_every_note_type_has_a_list_with_sources_and_a_fhir_document_type() -> None:
    assert set(NOTE_TYPES) == {"colonoscopy", "egd", "endoscopy", "ercp", "eus", "sigmoidoscopy", "procedure"}
    assert all(re.fullmatch(r"[0-9]+-[0-9]", k.loinc_code) and k.loinc_display for k in NOTE_TYPES.values())
    for path in {k.vocabulary_file for k in NOTE_TYPES.values()}:
        assert len(read_list(path)) >= 15, path
        assert "Source" in path.read_text()


def test_a_note_type_puts_its_own_terms_before_the_general_ones() -> None:
    terms = builtin_terms("ercp")
    assert terms[:3] == ["endoscopic retrograde cholangiopancreatography", "ERCP", "duodenoscope"]
    assert "propofol" in terms and len(terms) == len({t.lower() for t in terms})
    assert builtin_terms(None) == builtin_terms("endoscopy") == list(builtin_list("endoscopy"))


def _words(prompt_words: int, apply_as: Literal["prompt", "hotwords", "both"] = "prompt") -> VocabularySettings:
    return VocabularySettings(tuning=VocabularyTuning(prompt_words=prompt_words, apply_as=apply_as))


@pytest.mark.parametrize(("settings", "options", "expected"), [
    # No client prompt: the vocabulary, cut to the word budget, as the prompt.
    (_words(6), JobOptions(note_type="colonoscopy"),
     ("colonoscopy, cecum, appendiceal orifice, ileocecal valve.", None)),
    # The client's prompt and hotwords stay whole and first; the vocabulary fills what is left.
    (_words(8), JobOptions(initial_prompt="Dr. Smith dictating.", hotwords="Olympus"),
     ("Dr. Smith dictating. propofol, midazolam, fentanyl.", "Olympus")),
    (_words(6, "hotwords"), JobOptions(note_type="eus"),
     (None, "endoscopic ultrasound, EUS, linear echoendoscope.")),
    (_words(3, "both"), JobOptions(note_type="eus"),
     ("endoscopic ultrasound, EUS.", "endoscopic ultrasound, EUS.")),
    # Built-in lists switched off: only what the client sent, and its own phrases.
    (VocabularySettings(builtin=False), JobOptions(initial_prompt="cecum"), ("cecum", None)),
    (VocabularySettings(builtin=False), JobOptions(vocabulary=[VocabularyPhrase(phrase="Resolution clip")]),
     ("Resolution clip.", None)),
    (VocabularySettings(builtin=False), JobOptions(), (None, None)),
    # A client prompt over the budget is kept whole, with no vocabulary.
    (_words(2), JobOptions(initial_prompt="one two three"), ("one two three", None)),
])
def test_decoding_prompt(settings: VocabularySettings, options: JobOptions,
                         expected: tuple[str | None, str | None]) -> None:
    assert decoding_prompt(options, settings) == expected


def test_a_jobs_own_phrases_come_first() -> None:
    options = JobOptions(note_type="egd", vocabulary=[VocabularyPhrase(phrase="Resolution clip")])
    prompt = decoding_prompt(options, _words(5))[0]
    assert prompt == "Resolution clip, esophagogastroduodenoscopy, EGD, esophagus."


def test_custom_vocabulary_parses_strings_and_phrases() -> None:
    raw = json.dumps(["sessile", {"phrase": "Helicobacter pylori", "sounds_like": ["helico back there"],
                                  "display_as": "H. pylori"}])
    assert parse_vocabulary(raw, 10) == [
        VocabularyPhrase(phrase="sessile"),
        VocabularyPhrase(phrase="Helicobacter pylori", sounds_like=["helico back there"], display_as="H. pylori"),
    ]
    assert parse_vocabulary(None, 10) is None and parse_vocabulary(" ", 10) is None


@pytest.mark.parametrize(("raw", "message"), [
    ("sessile, cecum", 'vocabulary must be a JSON list, e.g. ["sessile", {"phrase": "Forrest class", '
                       '"sounds_like": ["forest class"]}]'),
    ('{"phrase": "x"}', "vocabulary must be a JSON list of phrases"),
    (json.dumps(["a"] * 4), "vocabulary has 4 phrases; the limit is 3"),
    (json.dumps(["x" * 65]), "vocabulary[0].phrase: String should have at most 64 characters"),
    (json.dumps(["ok", {"phrase": ""}]), "vocabulary[1].phrase: String should have at least 1 character"),
    (json.dumps([{"phrase": "a", "sounds_like": ["b"] * 5}]), "vocabulary[0].sounds_like: List should have at most "
                                                               "4 items after validation, not 5"),
    (json.dumps([{"phrase": "a", "colour": "red"}]), "vocabulary[0].colour: Extra inputs are not permitted"),
    (json.dumps([3]), "vocabulary[0].phrase: Input should be a valid dictionary or instance of VocabularyPhrase"),
])
def test_bad_custom_vocabulary_is_refused_with_what_to_fix(raw: str, message: str) -> None:
    with pytest.raises(VocabularyInvalid) as caught:
        parse_vocabulary(raw, 3)
    assert (http_status_of(caught.value), caught.value.code, caught.value.message) == (
        422, "invalid_vocabulary", message)


def test_an_unknown_note_type_is_refused_naming_the_known_ones() -> None:
    assert check_note_type("ercp") == "ercp" and check_note_type(None) is None
    with pytest.raises(VocabularyInvalid) as caught:
        check_note_type("cardiology")
    assert caught.value.code == "invalid_note_type"
    assert caught.value.message == ("note_type 'cardiology' is not one of colonoscopy, egd, endoscopy, ercp, eus, "
                                    "sigmoidoscopy, procedure")
