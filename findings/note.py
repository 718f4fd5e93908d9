"""A formatted note as spaCy tokens, with what every rule asks of it: sentences, cue phrases, numbers,
the polarity of a mention (affirmed, negated, uncertain) and the `Stated` value a span makes.

Negation and uncertainty follow NegEx (Chapman et al. 2001): a trigger phrase before a mention (within a
window, inside its clause) or after it ("were not seen") changes its polarity; pseudo-triggers ("no
difficulty") do not; a clause ends at a sentence end, a semicolon or a contrasting conjunction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import spacy
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc, Span, Token

from core.jobs import Segment
from findings.models import Stated
from findings.timing import Timeline

T = TypeVar("T")
Polarity = Literal["affirmed", "negated", "uncertain"]
DATA = Path(__file__).parent / "data"

PRE_NEGATION = ["no", "not", "without", "negative for", "free of", "absence of", "none", "never", "neither", "nor",
                "no evidence of", "no sign of", "no signs of", "unable to", "could not", "cannot", "can not",
                "did not", "was not", "were not", "failed to", "no other", "no additional", "no further", "nil"]
POST_NEGATION = ["not seen", "not identified", "not found", "not present", "not visualized", "not noted",
                 "not reached", "not be reached", "not be advanced", "not be intubated", "not be cannulated",
                 "not be retrieved", "not retrieved", "not removed", "not performed", "not placed", "not cleared",
                 "not used", "not given", "not administered", "not taken", "not obtained", "not intubated",
                 "not be cleared", "absent", "ruled out", "were negative", "was negative", "failed", "unsuccessful"]
PSEUDO = ["no difficulty", "without difficulty", "no problem", "not only", "no change", "without incident",
          "not difficult", "no resistance", "without resistance", "gram negative"]
UNCERTAIN = ["possible", "possibly", "probable", "probably", "suspected", "suspect", "suspicious for",
             "questionable", "question of", "may", "might", "cannot be excluded", "cannot exclude",
             "could not exclude", "equivocal", "versus", "vs", "presumed", "likely", "concerning for"]
HISTORY = ["history of", "prior", "previous", "previously", "known", "status post", "remote", "after resection",
           "after removal", "following resection", "resection of"]
CLAUSE_ENDS = {";", "but", "however", "although", "though", "whereas", "except", "which", "while"}
WINDOW = 6
NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
                "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
                "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "a": 1, "an": 1,
                "single": 1}


@lru_cache(maxsize=1)
def terms() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "terms.json").read_text())
    return data


@lru_cache(maxsize=1)
def nlp() -> Language:
    """A blank English pipeline (tokenizer and sentencizer): rules only, no model to download."""
    pipeline = spacy.blank("en")
    # "two a." ends a sentence in dictation (Paris 0-IIa, Forrest IIa): not the abbreviation "a.".
    tokenizer = cast(Tokenizer, pipeline.tokenizer)
    rules = tokenizer.rules or {}
    tokenizer.rules = {k: v for k, v in rules.items() if not (len(k) == 2 and k[1] == "." and k[0].isalpha())}
    pipeline.add_pipe("sentencizer")
    return pipeline


@lru_cache(maxsize=64)
def phrase_matcher(name: str, phrases: tuple[str, ...]) -> PhraseMatcher:
    matcher = PhraseMatcher(nlp().vocab, attr="LOWER")
    matcher.add(name, [nlp().make_doc(p) for p in phrases])
    return matcher


def number(token: Token) -> float | None:
    """A token's numeric value: digits ("5", "2.5") or a number word ("five")."""
    text = token.lower_
    try:
        return float(text)
    except ValueError:
        pass
    if text in NUMBER_WORDS and text not in {"a", "an", "single"}:
        return float(NUMBER_WORDS[text])
    return None


class Note:
    def __init__(self, text: str, segments: Sequence[Segment]) -> None:
        self.text = text
        self.doc: Doc = nlp()(text)
        self.timeline = Timeline(text, segments)
        self._found: dict[tuple[str, ...], list[Span]] = {}

    # Finding words -------------------------------------------------------------------------------

    def find(self, phrases: Iterable[str], within: Span | None = None) -> list[Span]:
        """Every occurrence of the phrases (longest first where they overlap), in text order."""
        key = tuple(sorted(set(phrases)))
        if key not in self._found:
            spans = [self.doc[s:e] for _, s, e in phrase_matcher("p", key)(self.doc)]
            spans.sort(key=lambda s: (s.start, -(s.end - s.start)))
            kept: list[Span] = []
            for span in spans:
                if not kept or span.start >= kept[-1].end:
                    kept.append(span)
            self._found[key] = kept
        if within is None:
            return self._found[key]
        return [s for s in self._found[key] if within.start <= s.start and s.end <= within.end]

    def lookup(self, table: str, within: Span | None = None) -> list[tuple[Span, str]]:
        """Occurrences of a terms.json table's phrases, each with the value it is written as."""
        values: dict[str, str] = terms()[table]
        return [(s, values[s.text.lower()]) for s in self.find(values, within) if s.text.lower() in values]

    def has(self, phrases: Iterable[str], within: Span) -> bool:
        return bool(self.find(phrases, within))

    def sentences(self) -> list[Span]:
        return list(self.doc.sents)

    # Polarity ------------------------------------------------------------------------------------

    def clause(self, span: Span) -> Span:
        """The part of the span's sentence between the nearest clause ends around it."""
        sentence = span.sent
        start, end = sentence.start, sentence.end
        for i in range(span.start - 1, sentence.start - 1, -1):
            if self.doc[i].lower_ in CLAUSE_ENDS:
                start = i + 1
                break
        for i in range(span.end, sentence.end):
            if self.doc[i].lower_ in CLAUSE_ENDS:
                end = i
                break
        return self.doc[start:end]

    def polarity(self, span: Span, window: int = WINDOW) -> Polarity:
        clause = self.clause(span)
        before = self.doc[max(clause.start, span.start - window) : span.start]
        after = self.doc[span.end : min(clause.end, span.end + window)]
        pseudo = {t.i for s in self.find(PSEUDO, clause) for t in s}
        if any(t.i not in pseudo for s in self.find(PRE_NEGATION, before) for t in s):
            return "negated"
        if any(t.i not in pseudo for s in self.find(POST_NEGATION, after) for t in s):
            return "negated"
        if self.find(UNCERTAIN, before) or self.find(UNCERTAIN, after[:3]):
            return "uncertain"
        return "affirmed"

    def historical(self, span: Span) -> bool:
        """A mention of the past ("history of adenomas", "prior sphincterotomy"), not this procedure's finding."""
        clause = self.clause(span)
        return self.has(HISTORY, self.doc[max(clause.start, span.start - WINDOW) : span.start])

    # Values --------------------------------------------------------------------------------------

    def stated(self, value: T, *spans: Span | Token, unit: str | None = None) -> Stated[T]:
        start = min(s.idx if isinstance(s, Token) else s.start_char for s in spans)
        end = max(s.idx + len(s) if isinstance(s, Token) else s.end_char for s in spans)
        audio_start, audio_end = self.timeline.seconds(start, end)
        return Stated[T](value=value, unit=unit, start=start, end=end, audio_start=audio_start, audio_end=audio_end)

    def measures(self, within: Span, units: dict[str, str]) -> list[tuple[float, Span, str]]:
        """Numbers followed by one of the units ("5 mm", "ten centimeters"), as (value, span, unit word)."""
        found = []
        for token in within:
            value = number(token)
            if value is None or token.i + 1 >= within.end:
                continue
            following = self.doc[token.i + 1]
            if following.lower_ in units:
                found.append((value, self.doc[token.i : token.i + 2], units[following.lower_]))
        return found
