"""Polyps: one per lesion said, each with the attributes said in its own words.

A new polyp starts at an indefinite or counted mention ("a 6 mm sessile polyp", "two polyps",
"another polyp"); "the polyp", "it" and "the lesion" refer back to the last one. A sentence with
several new polyps is cut into one region per polyp; removal and retrieval said once for the
sentence (or in the sentences that follow, before the next polyp) apply to each.
"""

from __future__ import annotations

from spacy.tokens import Span

from findings.models import Polyp, Stated
from findings.note import NUMBER_WORDS, Note, number, terms
from findings.rules import common

NEW = {"a", "an", "another", "one", "second", "third", "additional", "further", *NUMBER_WORDS}
BACK = {"the", "this", "that", "these", "those", "both", "its", "each"}
SIZE_UNITS = {"mm": "mm", "millimeter": "mm", "millimeters": "mm", "cm": "cm", "centimeter": "cm",
              "centimeters": "cm"}
DISTANCE = {"from", "proximal", "distal"}
NOT_REMOVED = ["not removed", "left in place", "not resected", "was not removed", "were not removed", "deferred"]
RETRIEVAL = ["retrieved", "retrieval", "recovered"]
NOT_POLYP_AFTER = {"site", "sites", "scar", "syndrome", "polyposis"}
ROMAN = {"i": "I", "1": "I", "one": "I", "ii": "II", "2": "II", "two": "II", "iii": "III", "3": "III", "three": "III"}
PARIS_SUBTYPES = {"p", "s", "sp", "a", "b", "c"}


def extract(note: Note) -> list[Polyp]:
    anchors = _anchors(note)
    found: list[Polyp] = []
    for k, (anchor, region) in enumerate(anchors):
        follow_end = anchors[k + 1][0].sent.start if k + 1 < len(anchors) else common.summary_start(note)
        if follow_end <= anchor.sent.start:
            follow_end = anchor.sent.end
        later = note.doc[anchor.sent.start : max(follow_end, anchor.sent.end)]
        these = _polyps(note, anchor, region, later)
        # "Three polyps were found." and then each one: the count announces the ones described next.
        bare = all(p == Polyp() for p in these)
        if not (bare and len(these) > 1 and k + 1 < len(anchors)):
            found.extend(these)
    return found


def absent(note: Note, found: list[Polyp]) -> Stated[bool] | None:
    if found:
        return None
    for span in note.find(terms()["polyp_words"]):
        # "No other polyps" says something was found, just not another polyp.
        other = note.has(["other", "additional", "further"], note.doc[max(span.start - 2, 0) : span.start])
        if span.start < common.summary_start(note) and note.polarity(span) == "negated" and not other:
            return note.stated(True, span)
    return None


def _anchors(note: Note) -> list[tuple[Span, Span]]:
    """The new-polyp mentions, each with the region of its sentence that describes it."""
    end = common.summary_start(note)
    news: list[Span] = []
    for span in note.find(terms()["polyp_words"]):
        following = note.doc[span.end].lower_ if span.end < len(note.doc) else ""
        if span.start >= end or following in NOT_POLYP_AFTER or not common.affirmed(note, span):
            continue
        if _is_new(note, span):
            news.append(span)
    anchors = []
    for k, span in enumerate(news):
        same_before = [s for s in news[:k] if s.sent == span.sent]
        same_after = [s for s in news[k + 1 :] if s.sent == span.sent]
        start = _phrase_start(note, span) if same_before else span.sent.start
        stop = _phrase_start(note, same_after[0]) if same_after else span.sent.end
        anchors.append((span, note.doc[start:stop]))
    return anchors


def _is_new(note: Note, span: Span) -> bool:
    before = [t.lower_ for t in note.doc[max(span.sent.start, span.start - 6) : span.start]]
    for word in reversed(before):
        if word in BACK:
            return False
        if word in NEW or word.isdigit():
            return True
    return False


def _phrase_start(note: Note, span: Span) -> int:
    for i in range(span.start - 1, max(span.sent.start, span.start - 7) - 1, -1):
        if note.doc[i].lower_ in NEW:
            return i
    return span.start


def _polyps(note: Note, anchor: Span, region: Span, later: Span) -> list[Polyp]:
    sizes = [s for s in note.measures(region, SIZE_UNITS) if not _distance(note, s[1])]
    count = _count(note, anchor, region)
    location = _nearest(note, note.lookup("colon_segments", region), anchor)
    morphology = next((note.stated(v, s) for s, v in note.lookup("morphology", region)), None)
    paris = _paris(note, region)
    removal = _removal(note, region) or _removal(note, anchor.sent) or _removal(note, later)
    retrieved = _retrieved(note, region) or _retrieved(note, later)
    per_size = [note.stated(v * 10 if unit == "cm" else v, span, unit="mm") for v, span, unit in sizes]
    # One size per polyp when each was given ("3 mm and 4 mm"); one size for several is a range: left out.
    n = max(len(per_size), count)
    own_sizes = per_size if len(per_size) == n else [None] * n
    polyps = [Polyp(location=location, size_mm=size, morphology=morphology, paris=paris, removal=removal,
                    retrieved=retrieved) for size in own_sizes]
    return polyps


def _count(note: Note, anchor: Span, region: Span) -> int:
    for token in note.doc[max(region.start, anchor.start - 4) : anchor.start]:
        value = number(token)
        following = note.doc[token.i + 1].lower_ if token.i + 1 < len(note.doc) else ""
        if value is not None and following not in SIZE_UNITS and 1 < value < 20:
            return int(value)
    return 1


def _distance(note: Note, span: Span) -> bool:
    """"25 cm from the anal verge", "at 8 cm": where the polyp is, not how big."""
    after = span.end < len(note.doc) and note.doc[span.end].lower_ in DISTANCE
    return after or (span.start > 0 and note.doc[span.start - 1].lower_ == "at")


def _nearest(note: Note, found: list[tuple[Span, str]], anchor: Span) -> Stated[str] | None:
    """The segment named closest to the polyp word, preferring one after it ("polyp in the rectum")."""
    if not found:
        return None
    span, value = min(found, key=lambda f: (f[0].start < anchor.start, abs(f[0].start - anchor.start)))
    return note.stated(value, span)


def _removal(note: Note, where: Span) -> Stated[str] | None:
    for span in note.find(NOT_REMOVED, where):
        return note.stated("not removed", span)
    for span, method in note.lookup("removal", where):
        if note.polarity(span) == "affirmed":
            return note.stated(method, span)
    return None


def _retrieved(note: Note, where: Span) -> Stated[bool] | None:
    for span in note.find(RETRIEVAL, where):
        polarity = note.polarity(span)
        if polarity != "uncertain":
            return note.stated(polarity == "affirmed", span)
    return None


def _paris(note: Note, where: Span) -> Stated[str] | None:
    for cue in note.find(["paris"], where):
        tokens = [t for t in note.doc[cue.end : min(cue.end + 7, where.end)]
                  if t.lower_ not in {"classification", "class", "type", "-", ",", "(", ")"}]
        words = [t.lower_ for t in tokens]
        joined = "".join(words)
        for prefix in ("zero", "0"):
            if joined.startswith(prefix):
                rest, used = _paris_rest(words[1:] if words[0] == prefix else [joined[len(prefix):]])
                if rest:
                    return note.stated(f"0-{rest}", cue, tokens[min(used, len(tokens) - 1)])
    return None


def _paris_rest(words: list[str]) -> tuple[str, int]:
    """("two", "a") -> ("IIa", 2); ("iia",) -> ("IIa", 1); ("is",) -> ("Is", 1)."""
    if not words:
        return "", 0
    first = words[0].lstrip("-")
    for roman in ("iii", "ii", "i"):
        if first.startswith(roman) and first[len(roman):] in PARIS_SUBTYPES | {""}:
            sub = first[len(roman):]
            if not sub and len(words) > 1 and words[1] in PARIS_SUBTYPES:
                return ROMAN[roman] + words[1], 2
            return (ROMAN[roman] + sub, 1) if sub or roman == "iii" else ("", 0)
    if first in ROMAN and len(words) > 1 and words[1] in PARIS_SUBTYPES:
        return ROMAN[first] + words[1], 2
    if first in ROMAN and ROMAN[first] == "III":
        return "III", 1
    return "", 0
