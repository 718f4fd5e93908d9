"""Lexicon correction: a conservative pass that maps near-misses of vocabulary terms to the terms.

Whisper with a prompt still writes "hemo clips" for "hemoclips" or "sphincterotomy" for
"sphincterotome" now and then. A run of 1-3 words is replaced by a vocabulary term only when it is
close in spelling (rapidfuzz) and in sound (jellyfish's Metaphone), is not itself a term or a plural
or inflection of one, and the term is long enough for closeness to mean something. A job's own
`sounds_like` entries are replaced outright: the client said so. `bench/wer.py` counts the right
and the false corrections (docs/design/vocabulary-measurements.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.jobs import JobOptions, Transcript
from core.settings import VocabularySettings
from core.vocabulary import VocabularyPhrase, job_terms

# Set by hand, then checked on the dev set and the held-out set (bench/wer.py judges every correction
# by whether it alone lowers or raises its clip's WER); not swept, so conservative rather than optimal.
MIN_SIMILARITY = 88.0
MIN_TERM_LETTERS = 7
MAX_SOUND_DISTANCE = 1
_PUNCT = ".,;:!?\"'()"
# Words that a correction never swallows: function words and what usually sits next to a term.
_KEEP = {"a", "an", "the", "and", "or", "of", "in", "to", "at", "on", "with", "was", "were", "is", "no", "not",
         "by", "for", "from", "as", "it", "this", "that", "there", "then", "than"}
_SUFFIXES = ("s", "es", "ed", "d", "ing", "al", "ly")
_ENDINGS = ("y", "e", "al", "ic", "ia", "es", "s", "ed", "ing")
_NUMBER_WORDS = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                 "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand",
                 "zero", "point", "first", "second", "third"}


@dataclass(frozen=True)
class _Term:
    written: str
    letters: str
    sound: str
    words: int


def correct_job(transcript: Transcript, options: JobOptions, settings: VocabularySettings) -> Transcript:
    """A job's transcript corrected against its vocabulary, when the setting is on."""
    phrases = options.vocabulary or []
    if not settings.tuning.lexicon and not phrases:
        return transcript
    terms = job_terms(options, settings) if settings.tuning.lexicon else []
    return correct(transcript, terms, phrases)[0]


def correct(
    transcript: Transcript, terms: list[str], phrases: list[VocabularyPhrase],
) -> tuple[Transcript, list[tuple[str, str]]]:
    """The transcript with near-misses replaced, and the `(heard, written)` replacements made."""
    candidates = _terms(terms, phrases)
    sounds_like = {_letters(s): p.written for p in phrases for s in p.sounds_like if _letters(s)}
    sounds_like.update({_letters(p.phrase): p.display_as for p in phrases if p.display_as and _letters(p.phrase)})
    applied: list[tuple[str, str]] = []
    segments = []
    for segment in transcript.segments:
        text, changes = _correct_text(segment.text, candidates, sounds_like)
        applied.extend(changes)
        segments.append(segment.model_copy(update={"text": text}) if changes else segment)
    if not applied:
        return transcript, []
    text = " ".join(s.text for s in segments)
    return transcript.model_copy(update={"segments": segments, "text": text,
                                         "raw_text": transcript.raw_text or transcript.text}), applied


def _terms(terms: list[str], phrases: list[VocabularyPhrase]) -> list[_Term]:
    import jellyfish  # worker dependencies; Flower imports this module in the light image

    written = {p.phrase.lower(): p.written for p in phrases}
    out = []
    for term in terms:
        letters = _letters(term)
        if len(letters) >= MIN_TERM_LETTERS and not term.isupper():
            out.append(_Term(written.get(term.lower(), term), letters, jellyfish.metaphone(letters),
                             len(term.split())))
    return out


def _correct_text(
    text: str, terms: list[_Term], sounds_like: dict[str, str],
) -> tuple[str, list[tuple[str, str]]]:
    words = text.split()
    known = {t.letters for t in terms}
    changes: list[tuple[str, str]] = []
    out: list[str] = []
    i = 0
    while i < len(words):
        replaced = False
        for n in (3, 2, 1):
            window = words[i:i + n]
            if len(window) < n or any(w[-1:] in ".,;:!?" for w in window[:-1]):
                continue
            heard = " ".join(w.strip(_PUNCT) for w in window)
            letters = _letters(heard)
            if not letters or any(_not_a_word(w) for w in window):
                continue
            target = sounds_like.get(letters)
            edges = {window[0].strip(_PUNCT).lower(), window[-1].strip(_PUNCT).lower()}
            if target is None and not edges & _KEEP:
                target = _closest(heard, letters, n, terms, known)
            if target is None:
                continue
            if window[0][:1].isupper() and target[:1].islower():
                target = target[:1].upper() + target[1:]
            trailing = window[-1][len(window[-1].rstrip(_PUNCT)):]
            out.append(target + trailing)
            changes.append((heard, target))
            i += n
            replaced = True
            break
        if not replaced:
            out.append(words[i])
            i += 1
    return " ".join(out), changes


def _closest(heard: str, letters: str, n: int, terms: list[_Term], known: set[str]) -> str | None:
    if letters in known:
        # Only the spacing differs ("hemo clips"): write the term as the vocabulary does.
        term = next(t for t in terms if t.letters == letters)
        return term.written if heard.lower() != term.written.lower() and n > 1 else None
    if any(letters == k + s or k == letters + s for k in known for s in _SUFFIXES):
        return None
    if any(c.isdigit() for c in letters):
        return None
    import jellyfish
    from rapidfuzz import fuzz

    best: tuple[float, str] | None = None
    for term in terms:
        if abs(term.words - n) > 1 or abs(len(term.letters) - len(letters)) > 3:
            continue
        score = fuzz.ratio(letters, term.letters)
        if score < MIN_SIMILARITY:
            continue
        if jellyfish.levenshtein_distance(jellyfish.metaphone(letters), term.sound) > MAX_SOUND_DISTANCE:
            continue
        if _other_form(letters, term.letters):
            continue
        if best is None or score > best[0]:
            best = (score, term.written)
    return best[1] if best else None


def _not_a_word(token: str) -> bool:
    """Numbers, grades and letters ("100", "1%", "B", "two") are never part of a correction: a term
    swallowing them would delete what was said."""
    word = token.strip(_PUNCT).lower()
    return len(_letters(word)) < 3 or any(c.isdigit() for c in word) or word in _NUMBER_WORDS


def _other_form(heard: str, term: str) -> bool:
    """"sigmoidoscopy" for "sigmoidoscope", "variceal" for "varices": the same stem with an ending of
    its own is another word of the family, not a mishearing."""
    stem = next((i for i, (a, b) in enumerate(zip(heard, term, strict=False)) if a != b), min(len(heard), len(term)))
    return stem >= 6 and len(heard) - stem <= 3 and len(term) - stem <= 3 and heard.endswith(_ENDINGS)


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())
