"""Dictation formatting: spoken punctuation and layout commands, and numbers with their units.

"hot snare comma and two hemoclips period new paragraph" -> "hot snare, and two hemoclips.\\n\\n";
"thirty eight centimeters" -> "38 cm", "two milligrams of midazolam" -> "2 mg of midazolam".

Numbers are valued by `text2num` (a maintained inverse-text-normalisation library with a Rust
core). Its `alpha2digit` leaves small numbers as words ("two milligrams" stays), rightly for prose,
and knows no units, so which words form a number before a unit or a counted word ("minutes",
"French", "year old") is decided here; numbers elsewhere stay as spoken. NeMo's inverse text
normalisation does units too, but needs pynini and compiles its grammars on first use: see docs/guides/endoscopy.md.
Anything unsure stays as the model wrote it: the unformatted text is kept in `raw_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.jobs import JobOptions, Transcript

PARAGRAPH = "\n\n"
LINE = "\n"

# Spoken mark -> what it writes; multi-word commands are matched first.
COMMANDS: dict[tuple[str, ...], str] = {
    ("new", "paragraph"): PARAGRAPH,
    ("next", "paragraph"): PARAGRAPH,
    ("new", "line"): LINE,
    ("next", "line"): LINE,
    ("full", "stop"): ".",
    ("question", "mark"): "?",
    ("period",): ".",
    ("comma",): ",",
    ("semicolon",): ";",
    ("colon",): ":",
}
ENDS_SENTENCE = {".", "?", PARAGRAPH, LINE}
# "the period of observation", "a recovery period": the word, not the command.
PERIOD_AS_WORD_AFTER = {"the", "a", "this", "that", "same", "recovery", "observation", "waiting", "washout",
                        "follow-up", "refractory", "time", "short", "long", "brief", "two-week", "one-week"}
# "colon" is the organ unless it follows a report heading ("Impression colon"), or a pause (Whisper's
# comma) after a word that does not name a part of the colon ("Indications, colon, ...").
HEADINGS = {"indication", "indications", "findings", "finding", "impression", "impressions", "plan",
            "procedure", "procedures", "recommendation", "recommendations", "history", "medications", "sedation",
            "complications", "technique", "assessment", "diagnosis", "diagnoses", "specimens", "disposition",
            "instruments", "consent", "anesthesia", "preparation", "extent", "quality", "summary"}
COLON_PARTS = {"sigmoid", "descending", "ascending", "transverse", "right", "left", "entire", "whole", "distal",
               "proximal", "redundant", "tortuous", "remaining", "rectosigmoid", "colon"}
_ARTICLES = {"the", "a", "an", "and", "or", "of", "in"}

UNITS: dict[str, str] = {
    **dict.fromkeys(["millimeter", "millimeters", "millimetre", "millimetres"], "mm"),
    **dict.fromkeys(["centimeter", "centimeters", "centimetre", "centimetres"], "cm"),
    **dict.fromkeys(["milligram", "milligrams", "milligramme", "milligrammes"], "mg"),
    **dict.fromkeys(["microgram", "micrograms", "mcg", "mics"], "mcg"),
    # "cc" is on the Joint Commission's do-not-use list; mL is what it stands for.
    **dict.fromkeys(["milliliter", "milliliters", "millilitre", "millilitres", "cc", "ccs"], "mL"),
    **dict.fromkeys(["gram", "grams"], "g"),
    **dict.fromkeys(["kilogram", "kilograms"], "kg"),
    **dict.fromkeys(["liter", "liters", "litre", "litres"], "L"),
    "percent": "%",
}
# Words after which a number is a measurement or a count worth writing as digits (the word stays).
COUNTED = {"french", "fr", "gauge", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
           "month", "months", "year", "years", "units", "unit", "seconds", "second", "passes", "bands", "clips"}
NUMBER_WORDS = {
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "a",
}
DIGITS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
          "seven": "7", "eight": "8", "nine": "9"}
_PUNCT = ".,;:!?"
_NUMERAL = re.compile(r"^\d+(\.\d+)?$")


def dictation_enabled(options: JobOptions) -> bool:
    """`formatting=dictation`, or a note_type without an explicit `formatting=none`."""
    if options.formatting is not None:
        return options.formatting == "dictation"
    return options.note_type is not None


def format_transcript(transcript: Transcript, options: JobOptions, layout: bool = True) -> Transcript:
    """The transcript with dictation formatting applied to its segments and text, when the job wants it.

    Word timings (alignment) keep the words as spoken. The text before formatting stays in `raw_text`.
    `layout=False` leaves "new paragraph" and "new line" as said, for the command grammar
    (`dictation.grammar`, through `worker.text.dictating`), which owns them when commands are on.
    """
    if not dictation_enabled(options) or not transcript.segments:
        return transcript
    tokens = [_Token(word, i) for i, segment in enumerate(transcript.segments) for word in segment.text.split()]
    tokens = _numbers(_commands(tokens, layout))
    texts = ["" for _ in transcript.segments]
    for i in range(len(texts)):
        texts[i] = " ".join(t.text for t in tokens if t.segment == i and t.text)
    text = _join(tokens)
    if text == transcript.text:
        return transcript
    segments = [s.model_copy(update={"text": texts[i]}) for i, s in enumerate(transcript.segments)]
    return transcript.model_copy(update={
        "text": text, "segments": [s for s in segments if s.text], "raw_text": transcript.raw_text or transcript.text,
    })


def format_text(text: str, options: JobOptions | None = None, layout: bool = True) -> str:
    """`format_transcript` for plain text (one segment)."""
    from core.jobs import Segment

    transcript = Transcript(text=text, language="en", duration=0.0, segments=[Segment(start=0, end=0, text=text)])
    return format_transcript(transcript, options or JobOptions(formatting="dictation"), layout).text


@dataclass
class _Token:
    text: str
    segment: int
    breaks: list[str] = field(default_factory=list)
    """Layout after this token (paragraph or line breaks)."""

    @property
    def bare(self) -> str:
        return self.text.strip(_PUNCT + "\"'()").lower()


def _commands(tokens: list[_Token], layout: bool = True) -> list[_Token]:
    out: list[_Token] = []
    capitalise = True
    lower_next = False
    i = 0
    while i < len(tokens):
        matched = _command_at(tokens, i, out)
        if matched is not None and not layout and matched[1] in (PARAGRAPH, LINE):
            matched = None
        if matched is None:
            token = tokens[i]
            if capitalise and token.text[:1].islower():
                token.text = token.text[:1].upper() + token.text[1:]
            elif lower_next and _is_titlecase_word(token.text):
                token.text = token.text[:1].lower() + token.text[1:]
            capitalise = lower_next = False
            out.append(token)
            i += 1
            continue
        length, mark = matched
        if out:
            previous = out[-1]
            if mark in (PARAGRAPH, LINE):
                previous.text = previous.text if previous.text[-1:] in _PUNCT else previous.text + "."
                previous.breaks.append(mark)
            else:
                previous.text = previous.text.rstrip(_PUNCT) + mark
        capitalise = mark in ENDS_SENTENCE
        # Whisper often writes the sentence it thinks began after "comma." with a capital.
        lower_next = not capitalise and tokens[i + length - 1].text.endswith(".")
        i += length
    return out


def _command_at(tokens: list[_Token], i: int, out: list[_Token]) -> tuple[int, str] | None:
    for words, mark in COMMANDS.items():
        window = tokens[i:i + len(words)]
        if tuple(t.bare for t in window) != words:
            continue
        if len(words) > 1 and any(t.text.rstrip(_PUNCT + "\"'").endswith(("'s",)) for t in window):
            continue
        previous = out[-1].bare if out else ""
        if words == ("period",) and (previous in PERIOD_AS_WORD_AFTER or _next_bare(tokens, i + 1) == "of"):
            return None
        if words == ("colon",) and not _colon_is_command(out):
            return None
        return len(words), mark
    return None


def _colon_is_command(out: list[_Token]) -> bool:
    if not out:
        return False
    previous = out[-1]
    if previous.bare in HEADINGS:
        return True
    return previous.text.endswith(",") and previous.bare not in COLON_PARTS and previous.bare not in _ARTICLES


def _next_bare(tokens: list[_Token], i: int) -> str:
    return tokens[i].bare if i < len(tokens) else ""


def _is_titlecase_word(text: str) -> bool:
    word = text.strip(_PUNCT)
    return len(word) > 1 and word[0].isupper() and word[1:].islower()


def _numbers(tokens: list[_Token]) -> list[_Token]:
    """Numbers before a unit or a counted word become digits ("five millimeter" -> "5 mm")."""
    out: list[_Token] = []
    i = 0
    while i < len(tokens):
        end = i + _number_span(tokens, i)
        unit = tokens[end] if end > i and end < len(tokens) else None
        if unit is None or not (unit.bare in UNITS or unit.bare in COUNTED or _is_year_old(tokens, end)):
            _hyphenated_unit(tokens[i])
            out.append(tokens[i])
            i += 1
            continue
        value = _value([t.bare for t in tokens[i:end]])
        if value is None:  # not one number ("zero two"): leave the whole run as said
            out.extend(tokens[i:end])
            i = end
            continue
        first = tokens[i]
        first.text, first.breaks = value, tokens[end - 1].breaks
        out.append(first)
        i = end
        if unit.bare in UNITS:
            trailing = unit.text[len(unit.text.rstrip(_PUNCT)):]
            if UNITS[unit.bare] == "%":  # "1%": the sign joins the number
                first.text, first.breaks = f"{value}%{trailing}", unit.breaks
                i = end + 1
            else:
                unit.text = UNITS[unit.bare] + trailing
    return out


def _hyphenated_unit(token: _Token) -> bool:
    """"5-millimeter" -> "5 mm" (Whisper joins a numeral and its unit when used as an adjective)."""
    core, trailing = token.text.rstrip(_PUNCT), token.text[len(token.text.rstrip(_PUNCT)):]
    number, _, unit = core.partition("-")
    if not _NUMERAL.match(number) or unit.lower() not in UNITS:
        return False
    symbol = UNITS[unit.lower()]
    token.text = f"{number}{symbol}{trailing}" if symbol == "%" else f"{number} {symbol}{trailing}"
    return True


def _is_year_old(tokens: list[_Token], i: int) -> bool:
    return i + 1 < len(tokens) and tokens[i].bare in ("year", "years") and tokens[i + 1].bare.startswith("old")


def _number_span(tokens: list[_Token], i: int) -> int:
    """How many tokens from i spell one number (digits, number words, "point"), stopping at punctuation."""
    n = 0
    while i + n < len(tokens) and _continues_number(tokens, i, n):
        n += 1
        token = tokens[i + n - 1]
        if token.text[-1:] in _PUNCT or token.breaks:
            break
    # A span must end on a number, not on "point" or "and".
    while n and tokens[i + n - 1].bare in ("point", "and"):
        n -= 1
    return n


def _continues_number(tokens: list[_Token], i: int, n: int) -> bool:
    token, following = tokens[i + n], _next_bare(tokens, i + n + 1)
    bare = token.bare
    if n == 0 and _NUMERAL.match(token.text.rstrip(_PUNCT)):
        return True
    if bare == "a":  # "a hundred", never "a" alone
        return n == 0 and following in ("hundred", "thousand")
    if bare == "point":
        return n > 0 or following in DIGITS
    if bare == "and":  # "one hundred and fifty"
        return n > 0 and tokens[i + n - 1].bare == "hundred"
    return bare in NUMBER_WORDS


def _value(words: list[str]) -> str | None:
    """The numeral a span of words spells, or None when it is not one number ("zero two")."""
    from text_to_num import text2num  # a worker dependency; Flower imports this module in the light image

    if len(words) == 1 and _NUMERAL.match(words[0]):
        return words[0]
    if words[0] == "point":
        whole, fraction = "", " ".join(words[1:])
    else:
        whole, _, fraction = " ".join(words).partition(" point ")
    if whole.split()[:1] in (["zero"], ["oh"]) and len(whole.split()) > 1:
        return None
    try:
        integer = str(text2num(whole, "en")) if whole and whole not in ("zero", "oh") else "0"
    except ValueError:
        return None
    if not fraction:
        return integer
    digits = [DIGITS.get(w) for w in fraction.split()]
    if None in digits:
        return None
    return f"{integer}.{''.join(d for d in digits if d)}"


def _join(tokens: list[_Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if not token.text:
            continue
        if parts and not parts[-1].endswith(("\n",)):
            parts.append(" ")
        parts.append(token.text)
        for mark in token.breaks:
            parts.append(mark)
    return "".join(parts).strip()
