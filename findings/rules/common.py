"""Rules every procedure note shares: sedation, complications, summary sections, polarity filters."""

from __future__ import annotations

from spacy.tokens import Span

from findings.models import Sedation, Stated
from findings.note import Note, terms

# Headings after which a note restates what it already said: no new findings start there.
SUMMARY_HEADINGS = ["impression", "impressions", "assessment", "diagnosis", "diagnoses", "plan", "recommendation",
                    "recommendations", "summary", "postoperative diagnosis"]
NO_COMPLICATIONS = ["no complications", "no complication", "without complications", "without complication",
                    "no immediate complications", "no immediate complication", "no adverse events",
                    "no adverse event", "without adverse events", "complications: none", "there were no complications",
                    "no apparent complications", "without any complications", "with no complications"]
COMPLICATION_CUES = ["complicated by", "complication", "complications", "adverse event"]


def summary_start(note: Note) -> int:
    """The token where the note's summary section begins (its length when there is none)."""
    for sentence in note.sentences():
        words = [t for t in sentence if not t.is_space]
        first = words[0].lower_ if words else ""
        two = " ".join(t.lower_ for t in words[:2])
        if (first in SUMMARY_HEADINGS or two in SUMMARY_HEADINGS) and ":" in sentence.text[:40]:
            return sentence.start
    return len(note.doc)


INTRODUCTIONS = {"indication", "indications", "history", "reason"}


def introductory(span: Span) -> bool:
    """In the note's indication or history ("Indication: history of adenomas"): why, not what was found."""
    words = [t.lower_ for t in span.sent if not t.is_space][:2]
    return bool(words) and words[0] in INTRODUCTIONS


def affirmed(note: Note, span: Span) -> bool:
    return note.polarity(span) == "affirmed" and not note.historical(span) and not introductory(span)


def yes_or_no(note: Note, words: list[str]) -> Stated[bool] | None:
    """The first certain, present-day mention of the words: True when affirmed, False when negated."""
    for span in note.find(words):
        polarity = note.polarity(span)
        if polarity != "uncertain" and not note.historical(span):
            return note.stated(polarity == "affirmed", span)
    return None


def sedation(note: Note) -> list[Sedation]:
    units: dict[str, str] = terms()["dose_units"]
    given: list[Sedation] = []
    seen: set[str] = set()
    for span, agent in note.lookup("sedation_agents"):
        if agent in seen or note.polarity(span) != "affirmed":
            continue
        seen.add(agent)
        dose = None
        # "2 mg of midazolam" or "midazolam 2 mg" / "propofol, total dose 250 mg" (up to the next agent)
        before = note.doc[max(span.start - 3, 0) : span.start]
        if len(before) == 3 and before[2].lower_ == "of":
            dose = next((note.stated(v, m, unit=u) for v, m, u in note.measures(before[:2], units)), None)
        stop = min(span.end + 5, span.sent.end)
        nxt = [s for s, _ in note.lookup("sedation_agents", note.doc[span.end : stop])]
        after = note.doc[span.end : nxt[0].start if nxt else stop]
        if dose is None:
            # not "propofol and 100 mcg of fentanyl": that dose is the next agent's
            dose = next((note.stated(v, m, unit=u) for v, m, u in note.measures(after, units)
                         if m.end >= len(note.doc) or note.doc[m.end].lower_ != "of"), None)
        given.append(Sedation(agent=note.stated(agent, span), dose=dose))
    return given


def complications(note: Note) -> tuple[Stated[bool] | None, list[Stated[str]]]:
    none = note.find(NO_COMPLICATIONS)
    kinds: list[Stated[str]] = []
    present: Stated[bool] | None = None
    for cue in note.find(COMPLICATION_CUES):
        if any(n.start <= cue.start < n.end for n in none) or note.polarity(cue) != "affirmed":
            continue
        for span, kind in note.lookup("complication_kinds", cue.sent):
            if span.start > cue.start and note.polarity(span) == "affirmed":
                kinds.append(note.stated(kind, span))
                present = present or note.stated(True, cue, span)
    for span, kind in note.lookup("complication_kinds"):
        if kind == "perforation" and affirmed(note, span) and not any(k.value == kind for k in kinds):
            kinds.append(note.stated(kind, span))
            present = present or note.stated(True, span)
    if present is None and none:
        present = note.stated(False, none[0])
    return present, kinds
