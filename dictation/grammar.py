"""The command grammar: every phrase a clinician says to the system instead of to the note.

One declaration per command (`COMMANDS`): its name, the ways to say it, what it takes, and where it may
be said. The editor, the docs page and the bench all read it; spoken punctuation ("period", "comma")
joins it as `Placement.ANYWHERE` entries.

A command is taken as one only when said as one, as Dragon does: alone, between pauses. What was said
is cut into phrases at pauses (an utterance's edges, a gap between words of at least `PAUSE_SECONDS`,
and the sentence ends and commas the recogniser wrote, which is how it shows a pause). A phrase, or one of its
sentences, that is exactly a command's words (plus its argument) is the command; anything else is
text. "The patient was told to scratch that area less" is one sentence, not the words "scratch that".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from enum import StrEnum

from dictation.sounds import sounds_like

CLOSE = 0.85
"""How alike (difflib's ratio) a phrase said alone must be to a command's words to be taken for it."""
PAUSE_SECONDS = 0.3
"""A gap between two words at least this long is a pause: a command may start or end there."""


class Placement(StrEnum):
    ALONE = "alone"
    """Only as a phrase of its own, between pauses."""
    ANYWHERE = "anywhere"
    """Also inside a phrase (layout and punctuation), unless `not_after` says it is the word."""


class Argument(StrEnum):
    NONE = "none"
    WORDS = "words"
    """Words in the document ("select sigmoid"): a command only when they are there to select."""
    TEXT = "text"
    """Any words ("correct that to sigmoid colon")."""
    TEMPLATE = "template"
    """A template's trigger phrase ("insert normal colonoscopy"): a command only for a known one."""


@dataclass(frozen=True)
class CommandSpec:
    name: str
    phrases: tuple[str, ...]
    """Ways to say it, lower case, without punctuation; with an argument, the words before it."""
    does: str
    """What it does, for the docs page."""
    argument: Argument = Argument.NONE
    placement: Placement = Placement.ALONE
    not_after: frozenset[str] = frozenset()
    """With `ANYWHERE`: previous words that make the phrase the words, not the command ("a new line")."""


# "a new line of therapy", "the next line": an article or an adjective before it makes it the words.
_LAYOUT_WORDS_AFTER = frozenset({"a", "an", "the", "this", "that", "another", "first", "second", "third", "each",
                                 "every", "one", "our", "his", "her", "their", "its", "same", "entire", "whole"})

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("scratch_that", ("scratch that", "delete that", "strike that"),
                "Removes the last thing dictated (a phrase or an inserted template); with a selection, the selection."),
    CommandSpec("delete_last_sentence", ("delete last sentence", "delete the last sentence"),
                "Removes the last sentence."),
    CommandSpec("delete_last_word", ("delete last word", "delete the last word"), "Removes the last word."),
    CommandSpec("undo", ("undo that", "undo"), "Undoes the last command or dictation; text it removed comes back."),
    CommandSpec("new_paragraph", ("new paragraph", "next paragraph"), "Starts a new paragraph.",
                placement=Placement.ANYWHERE, not_after=_LAYOUT_WORDS_AFTER),
    CommandSpec("new_line", ("new line", "next line"), "Starts a new line.",
                placement=Placement.ANYWHERE, not_after=_LAYOUT_WORDS_AFTER),
    CommandSpec("select", ("select",), "Selects the last place the words were dictated.", Argument.WORDS),
    CommandSpec("correct_that", ("correct that to", "correct to", "change that to"),
                "Replaces the selection with the words.", Argument.TEXT),
    CommandSpec("insert_template", ("insert",), "Inserts a template (auto-text) by its trigger phrase.",
                Argument.TEMPLATE),
    CommandSpec("next_field", ("next field",), "Leaves the current field at its default and moves to the next."),
    CommandSpec("previous_field", ("previous field",), "Moves back to the field before."),
    CommandSpec("accept_defaults", ("accept defaults", "accept default", "accept all defaults"),
                "Leaves every remaining field at its default."),
    CommandSpec("stop_dictation", ("stop dictation", "stop dictating"), "Ends the dictation (a live session)."),
)
BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}
_SOUNDED: tuple[tuple[str, str], ...] = tuple(
    (spec.name, phrase) for spec in COMMANDS if spec.argument is Argument.NONE for phrase in spec.phrases
    if " " in phrase)
"""The commands taken by how they sound, said alone (`dictation.sounds`): those of two words or more and no
argument. An argument is what the clinician chose to say, and "undo" alone is too short to hear by sound."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """What the recogniser heard between two endpoints; `words` (with times) shows the pauses inside."""

    text: str
    start: float = 0.0
    end: float = 0.0
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Text:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Call:
    name: str
    said: str
    start: float
    end: float
    argument: str | None = None


Piece = Text | Call


@dataclass
class Context:
    """What decides the commands with an argument: the text so far and the templates there are."""

    document: str = ""
    templates: Mapping[str, str] = field(default_factory=dict)
    """Trigger phrase (normalised) -> template name."""


def normalise(text: str) -> str:
    """Lower case, hyphens as spaces, no punctuation around words: how phrases are compared."""
    words = (w.strip(".,;:!?\"'()") for w in text.lower().replace("-", " ").split())
    return " ".join(w for w in words if w)


def recognise(utterances: Iterable[Utterance], context: Context | None = None) -> list[Piece]:
    """The text and the commands in what was said, in order. `context.document` grows as text comes."""
    context = context or Context()
    pieces: list[Piece] = []
    for utterance in utterances:
        heard: list[Piece] = []
        for phrase in _phrases(utterance):
            for piece in _phrase_pieces(phrase, context):
                if isinstance(piece, Text):
                    context.document = f"{context.document} {piece.text}".strip()
                heard.append(piece)
        pieces += _joined(heard)
    return pieces


def _joined(pieces: list[Piece]) -> list[Piece]:
    """Text cut only at a comma as one piece again (a sentence stays one: what "scratch that" removes),
    its trailing comma dropped before a command: the comma was the recogniser's pause."""
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if isinstance(piece, Text) and isinstance(last, Text) and last.text.endswith((",", ";")):
            out[-1] = Text(f"{last.text} {piece.text}", last.start, piece.end)
            continue
        if isinstance(piece, Call) and isinstance(last, Text) and last.text.endswith(","):
            out[-1] = Text(last.text.rstrip(","), last.start, last.end)
        out.append(piece)
    return out


def recognise_text(text: str, context: Context | None = None) -> list[Piece]:
    """`recognise` for text without times: one utterance, cut at its sentence ends."""
    return recognise([Utterance(text)], context)


def _phrases(utterance: Utterance) -> list[list[Word]]:
    """The utterance's words, cut at pauses and at the sentence ends the recogniser wrote."""
    words = list(utterance.words) or _untimed(utterance)
    phrases: list[list[Word]] = [[]]
    for i, word in enumerate(words):
        if phrases[-1] and word.start - words[i - 1].end >= PAUSE_SECONDS:
            phrases.append([])
        phrases[-1].append(word)
        if word.text.rstrip("\"')").endswith((".", "?", "!", ",", ";")):
            phrases.append([])  # the recogniser writes a pause as a sentence end or a comma
    return [p for p in phrases if p]


def _untimed(utterance: Utterance) -> list[Word]:
    return [Word(w, utterance.start, utterance.end) for w in utterance.text.split()]


def _phrase_pieces(words: list[Word], context: Context) -> list[Piece]:
    whole = _alone(words, context)
    if whole is not None:
        return [whole]
    pieces: list[Piece] = []
    start = i = 0
    while i < len(words):
        found = _anywhere(words, i)
        if found is None:
            i += 1
            continue
        spec, length = found
        if start < i:
            pieces.append(_text(words[start:i]))
        said = words[i:i + length]
        pieces.append(Call(spec.name, " ".join(w.text for w in said), said[0].start, said[-1].end))
        i = start = i + length
    if start < len(words):
        pieces.append(_text(words[start:]))
    return pieces


def _alone(words: Sequence[Word], context: Context) -> Call | None:
    said = normalise(" ".join(w.text for w in words))
    found = _exact(said, context) or _close(said, context) or _sounded(said)
    if found is None:
        return None
    name, argument = found
    return Call(name, " ".join(w.text for w in words), words[0].start, words[-1].end, argument or None)


_DIGITS = {w: str(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
"""Numbers formatting writes in digits before a unit or a counted word ("three passes" -> "3 passes")."""


def _exact(said: str, context: Context) -> tuple[str, str] | None:
    for spec in COMMANDS:
        for phrase in spec.phrases:
            argument = _argument(spec, phrase, said, context)
            if argument is not None:
                return spec.name, argument
    return None


def _close(said: str, context: Context) -> tuple[str, str] | None:
    """A phrase alone that is a command or a trigger misheard by a letter or two ("delete last work",
    "except defaults", "insert normal egg"): as many words, and at least `CLOSE` alike."""
    for spec in COMMANDS:
        if spec.argument is Argument.NONE:
            if any(_alike(said, phrase) for phrase in spec.phrases):
                return spec.name, ""
        elif spec.argument is Argument.TEMPLATE and said.startswith(tuple(p + " " for p in spec.phrases)):
            rest = said.split(" ", 1)[1]
            for trigger, name in context.templates.items():
                if _alike(rest, trigger):
                    return spec.name, name
    return None


def _sounded(said: str) -> tuple[str, str] | None:
    """A phrase alone that sounds like a command the model misheard ("crashed at", "and do that")."""
    name = sounds_like(said, _SOUNDED)
    return (name, "") if name else None


def _alike(said: str, phrase: str) -> bool:
    return len(said.split()) == len(phrase.split()) and SequenceMatcher(None, said, phrase).ratio() >= CLOSE


def _argument(spec: CommandSpec, phrase: str, said: str, context: Context) -> str | None:
    """"" for a command without an argument said exactly; the argument; or None: not this command."""
    if spec.argument is Argument.NONE:
        return "" if said == phrase else None
    if not said.startswith(phrase + " "):
        return None
    rest = said[len(phrase) + 1:]
    if spec.argument is Argument.WORDS:
        document = normalise(context.document)
        # "select three" after formatting wrote "3 passes": the words as said, else as written in digits
        for words in dict.fromkeys((rest, " ".join(_DIGITS.get(w, w) for w in rest.split()))):
            if re.search(rf"\b{re.escape(words)}\b", document):
                return words
        return None
    if spec.argument is Argument.TEMPLATE:
        return context.templates.get(rest)
    return rest


def _anywhere(words: Sequence[Word], i: int) -> tuple[CommandSpec, int] | None:
    for spec in COMMANDS:
        if spec.placement is not Placement.ANYWHERE:
            continue
        for phrase in spec.phrases:
            length = len(phrase.split())
            if normalise(" ".join(w.text for w in words[i:i + length])) != phrase:
                continue
            if i and normalise(words[i - 1].text) in spec.not_after:
                continue
            return spec, length
    return None


def _text(words: Sequence[Word]) -> Text:
    return Text(" ".join(w.text for w in words), words[0].start, words[-1].end)
