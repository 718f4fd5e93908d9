"""Vocabularies: the built-in endoscopy term lists, a job's own phrases, and what they tell the decoder.

Whisper has no vocabulary API: terms reach it as text before the audio, either as the prompt (the
previous-text context) or as faster-whisper's `hotwords` (the same context slot, placed first). Which
works better, and how many terms fit before Whisper starts dropping speech, was measured with
`bench/wer.py` on the dev set (docs/design/vocabulary-measurements.md).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ErrorCode, Unprocessable
from core.note_types import GENERAL_FILE, NOTE_TYPES, VOCABULARIES, note_type_names

if TYPE_CHECKING:
    from core.jobs import JobOptions
    from core.settings import VocabularySettings

ApplyAs = Literal["prompt", "hotwords", "both"]
PHRASE_CHARS = 64
"""The longest phrase, `sounds_like` item or `display_as`: a term, not a sentence."""
MAX_SOUNDS_LIKE = 4
"""Mishearings one phrase may list."""
PhraseText = Annotated[str, Field(min_length=1, max_length=PHRASE_CHARS)]


class VocabularyInvalid(Unprocessable):
    code = ErrorCode.INVALID_VOCABULARY


class VocabularyPhrase(BaseModel):
    """One custom term, in the shape of AWS Transcribe Medical's Phrase / SoundsLike / DisplayAs."""

    model_config = ConfigDict(extra="forbid")

    phrase: PhraseText
    """The term as it should be recognised (and, without `display_as`, written)."""
    sounds_like: list[PhraseText] = Field(default_factory=list, max_length=MAX_SOUNDS_LIKE)
    """How the model mishears it ("sessile" heard as "cecal"): the correction pass maps these to it."""
    display_as: PhraseText | None = None
    """How to write it in the transcript, when not as `phrase` ("Helicobacter pylori" -> "H. pylori")."""

    @property
    def written(self) -> str:
        return self.display_as or self.phrase


@lru_cache(maxsize=32)
def read_list(path: Path) -> tuple[str, ...]:
    """A list file's phrases, in file order."""
    lines = path.read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def builtin_list(name: str) -> tuple[str, ...]:
    """One built-in list's phrases (`core/vocabularies/<name>.txt`)."""
    return read_list(VOCABULARIES / f"{name}.txt")


def builtin_terms(note_type: str | None) -> list[str]:
    """The note type's own list, then the general list (duplicates dropped, order kept)."""
    own = NOTE_TYPES[note_type].vocabulary_file if note_type else GENERAL_FILE
    lists = [own] if own != GENERAL_FILE else []
    return _unique([*(t for path in lists for t in read_list(path)), *read_list(GENERAL_FILE)])


def job_terms(options: JobOptions, settings: VocabularySettings) -> list[str]:
    """Every term a job's decoding and correction know: its own phrases first, then the built-in ones."""
    own = [p.phrase for p in options.vocabulary or []]
    builtin = builtin_terms(options.note_type) if settings.builtin else []
    return _unique([*own, *builtin])


def decoding_prompt(options: JobOptions, settings: VocabularySettings) -> tuple[str | None, str | None]:
    """The `(initial_prompt, hotwords)` to decode a job with: the client's own, joined by its vocabulary.

    A client's prompt and hotwords are kept whole and go first; the vocabulary fills what is left of a
    word budget (Whisper keeps about 220 prompt tokens, and tiny.en drops speech well before that).
    """
    terms = job_terms(options, settings)
    budget = settings.tuning.prompt_words - _words(options.initial_prompt) - _words(options.hotwords)
    glossary = _glossary(terms, budget)
    prompt, hotwords = options.initial_prompt, options.hotwords
    if glossary and settings.tuning.apply_as in ("prompt", "both"):
        prompt = _join(prompt, glossary)
    if glossary and settings.tuning.apply_as in ("hotwords", "both"):
        hotwords = _join(hotwords, glossary)
    return prompt, hotwords


def check_note_type(note_type: str | None) -> str | None:
    """The note type, or 422 naming the ones there are."""
    if note_type is not None and note_type not in NOTE_TYPES:
        raise VocabularyInvalid(f"note_type {note_type!r} is not one of {note_type_names()}",
                                code=ErrorCode.INVALID_NOTE_TYPE)
    return note_type


def parse_vocabulary(raw: str | None, max_phrases: int) -> list[VocabularyPhrase] | None:
    """A submission's `vocabulary` field (a JSON list of phrases or strings), or 422 saying what is wrong."""
    if raw is None or not raw.strip():
        return None
    try:
        items = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: nested deeper than any phrase list
        raise VocabularyInvalid('vocabulary must be a JSON list, e.g. ["sessile", {"phrase": "Forrest class", '
                                '"sounds_like": ["forest class"]}]') from None
    if not isinstance(items, list):
        raise VocabularyInvalid("vocabulary must be a JSON list of phrases")
    if len(items) > max_phrases:
        raise VocabularyInvalid(f"vocabulary has {len(items)} phrases; the limit is {max_phrases}")
    phrases = []
    for i, item in enumerate(items):
        try:
            phrases.append(VocabularyPhrase(phrase=item) if isinstance(item, str)
                           else VocabularyPhrase.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "phrase"
            raise VocabularyInvalid(f"vocabulary[{i}].{where}: {first['msg']}") from None
    return phrases


def _glossary(terms: list[str], budget: int) -> str | None:
    chosen: list[str] = []
    for term in terms:
        if _words(", ".join([*chosen, term])) > budget:
            break
        chosen.append(term)
    return ", ".join(chosen) + "." if chosen else None


def _join(client: str | None, glossary: str) -> str:
    return f"{client.strip()} {glossary}" if client and client.strip() else glossary


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _unique(terms: list[str]) -> list[str]:
    seen: set[str] = set()
    return [t for t in terms if not (t.lower() in seen or seen.add(t.lower()))]  # type: ignore[func-returns-value]
