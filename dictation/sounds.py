"""How a short phrase sounds: to take a command the model misheard, said alone, for the command.

tiny.en writes a command it half heard as other words that sound like it: "crashed at" for "scratch
that", "the leak blast sentence" for "delete last sentence", "and do that" for "undo that". Their
spelling is far from the command's; their sound is not. A phrase's sound here is two things:

- its consonants: jellyfish's Metaphone of its letters run together (where one word ends is what the
  model hears worst: "the leak blast" for "delete last"), with voiced and voiceless pairs as one ("d"
  and "t", "th" and "t", "b" and "p") and every vowel Metaphone keeps as one symbol;
- its syllables, counted as vowel groups: a misheard command keeps its rhythm ("and do that" has the
  three of "undo that"), a shorter phrase that shares its consonants does not ("and that" has two).

The CMU Pronouncing Dictionary would give real phonemes, but its Python package is GPL-3.0 and it
knows no word the model invents ("medictation"); Metaphone (jellyfish) and the edit distance (rapidfuzz)
are the worker's dependencies already, for lexicon correction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

SOUND_CLOSE = 0.75
"""How alike in sound (`sound_alike`) a phrase said alone must be to a command's words to be taken for it.
Chosen on the commands dev set (bench/commands.py --audio) between its mishearings and its ordinary
phrases said alone; the margins, and the held-out figure, are in docs/guides/commands.md."""
SHORT_KEY = 5
"""A command whose sound key is this short ("undo that": ANTTT) is taken by sound only when the key is the
same: one edit in five reaches too many ordinary phrases ("into the", "and thirty")."""

# Metaphone's symbols merged where tiny.en confuses them: voicing, "th" (0) for "t", every vowel.
_MERGED = str.maketrans({"0": "T", "D": "T", "B": "P", "V": "F", "Z": "S", "G": "K", "J": "K", "Q": "K",
                         "E": "A", "I": "A", "O": "A", "U": "A", "Y": "A", "W": "A"})
_VOWELS = re.compile(r"[aeiouy]+")
_SILENT_E = ("le", "ee")
"""Endings where a final "e" is a syllable of its own (or part of one): "table", "three"."""
_ES = ("ses", "zes", "ces", "ges", "xes", "shes", "ches")
"""Endings where "-es" is a syllable: "passes", "changes"."""


@lru_cache(maxsize=4096)
def consonants(phrase: str) -> str:
    """The phrase's sound key (lower-case words, spaces between): Metaphone of its letters, merged."""
    import jellyfish  # worker dependency; the API imports dictation (templates) without it

    letters = "".join(c for c in phrase if c.isalpha())
    return jellyfish.metaphone(letters).translate(_MERGED)


def syllables(phrase: str) -> int:
    """About how many syllables the phrase has: vowel groups, less a silent "e", "-ed" or "-es"."""
    return sum(_word_syllables(word) for word in phrase.split())


def _word_syllables(word: str) -> int:
    count = len(_VOWELS.findall(word))
    if count > 1 and word.endswith("e") and not word.endswith(_SILENT_E):
        count -= 1
    elif count > 1 and word.endswith("ed") and not word.endswith(("ted", "ded")):
        count -= 1
    elif count > 1 and word.endswith("es") and not word.endswith(_ES):
        count -= 1
    return max(count, 1)


def sound_alike(said: str, phrase: str) -> float:
    """How alike `said` sounds to `phrase` (both normalised): 0 unless they have as many syllables, else
    the share of their consonant keys that an edit leaves alone (1 = the same sound)."""
    from rapidfuzz.distance import Levenshtein

    if syllables(said) != syllables(phrase):
        return 0.0
    return float(Levenshtein.normalized_similarity(consonants(said), consonants(phrase)))


def sounds_like(said: str, phrases: Iterable[tuple[str, str]]) -> str | None:
    """The name of the `(name, phrase)` whose phrase `said` (normalised, said alone) sounds most like, if
    at least `SOUND_CLOSE`; None if none does. Only a phrase of two words or more is compared, with at
    most one word more or fewer than the command's, and never one with a digit (formatting wrote a number:
    something was dictated): a single word said alone ("stricture", "dilated") is a finding, not a
    command, however it sounds."""
    words = len(said.split())
    if words < 2 or any(c.isdigit() for c in said):
        return None
    best: tuple[float, str] | None = None
    for name, phrase in phrases:
        if abs(len(phrase.split()) - words) > 1:
            continue
        score = sound_alike(said, phrase)
        if len(consonants(phrase)) <= SHORT_KEY and score < 1.0:
            continue
        if score >= SOUND_CLOSE and (best is None or score > best[0]):
            best = (score, name)
    return best[1] if best else None
