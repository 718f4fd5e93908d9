"""EGD rules: Los Angeles grade, Prague C&M, hiatal hernia, Z-line, varices, biopsy sites, ulcers."""

from __future__ import annotations

from typing import cast

from spacy.tokens import Span, Token

from findings.models import EgdFindings, ForrestClass, LAGrade, Stated, Ulcer
from findings.note import Note, number
from findings.rules import common

LA = ["los angeles grade", "los angeles class", "los angeles classification grade", "los angeles classification",
      "la grade", "la class", "los angeles"]
ESOPHAGITIS = ["esophagitis", "erosive esophagitis", "reflux esophagitis"]
HERNIA = ["hiatal hernia", "hiatus hernia"]
Z_LINE = ["z-line", "z line", "squamocolumnar junction"]
Z_SHAPES = {"regular": "regular", "irregular": "irregular"}
BIOPSY = ["biopsy", "biopsies", "biopsied"]
ULCER = ["ulcer", "ulcers", "ulceration"]
FORREST = {"ia": "Ia", "ib": "Ib", "iia": "IIa", "iib": "IIb", "iic": "IIc", "iii": "III", "1a": "Ia", "1b": "Ib",
           "2a": "IIa", "2b": "IIb", "2c": "IIc", "3": "III", "onea": "Ia", "oneb": "Ib", "twoa": "IIa", "twob": "IIb",
           "twoc": "IIc", "three": "III"}
CM = {"cm": "cm", "centimeter": "cm", "centimeters": "cm"}
MM = {"mm": "mm", "millimeter": "mm", "millimeters": "mm", "cm": "cm", "centimeter": "cm", "centimeters": "cm"}


def extract(note: Note) -> EgdFindings:
    found = EgdFindings(sedation=common.sedation(note), biopsy_sites=_biopsies(note), ulcers=_ulcers(note))
    found.complications, found.complication_kinds = common.complications(note)
    found.la_grade, found.esophagitis_absent = _la(note)
    found.prague_c, found.prague_m = _prague(note)
    found.hiatal_hernia, found.hiatal_hernia_cm = _hernia(note)
    found.z_line, found.z_line_cm = _z_line(note)
    found.varices = common.yes_or_no(note, ["varices", "varix"])
    return found


def _la(note: Note) -> tuple[Stated[LAGrade] | None, Stated[bool] | None]:
    for cue in note.find(LA):
        words = [t for t in note.doc[cue.end : min(cue.end + 3, len(note.doc))] if t.lower_ not in {"grade", "class"}]
        if words and words[0].text.upper() in {"A", "B", "C", "D"} and note.polarity(cue) == "affirmed":
            return note.stated(cast(LAGrade, words[0].text.upper()), cue, words[0]), None
    for span in note.find(ESOPHAGITIS):
        if note.polarity(span) == "negated":
            return None, note.stated(True, span)
    return None, None


def _prague(note: Note) -> tuple[Stated[float] | None, Stated[float] | None]:
    for sentence in note.sentences():
        if not note.has(["prague", "barrett's", "barrett"], sentence):
            continue
        c = m = None
        for token in sentence:
            text = token.lower_
            value = _after_letter(note, token)
            if text.startswith("c") and value is not None and c is None:
                c = note.stated(value[0], token, value[1], unit="cm")
            elif text.startswith("m") and value is not None and m is None:
                m = note.stated(value[0], token, value[1], unit="cm")
        if c is not None and m is not None:
            return c, m
    return None, None


def _after_letter(note: Note, token: Token) -> tuple[float, Token] | None:
    """"C2" (one token), "C 2" or "C two": the number after a Prague letter, and its token."""
    text = token.lower_
    if len(text) > 1 and text[0] in "cm" and text[1:].replace(".", "", 1).isdigit():
        return float(text[1:]), token
    if text in {"c", "m"} and token.i + 1 < len(note.doc):
        following = note.doc[token.i + 1]
        value = number(following)
        if value is not None:
            return value, following
    return None


def _hernia(note: Note) -> tuple[Stated[bool] | None, Stated[float] | None]:
    for span in note.find(HERNIA):
        polarity = note.polarity(span)
        if polarity == "negated":
            return note.stated(False, span), None
        if polarity != "affirmed":
            continue
        near = note.doc[max(span.sent.start, span.start - 4) : min(span.sent.end, span.end + 4)]
        sizes = note.measures(near, CM)
        size = note.stated(sizes[0][0], sizes[0][1], unit="cm") if sizes else None
        return note.stated(True, span), size
    return None, None


def _z_line(note: Note) -> tuple[Stated[str] | None, Stated[float] | None]:
    for cue in note.find(Z_LINE):
        sentence = cue.sent
        shape = next((note.stated(v, s) for s, v in ((s, Z_SHAPES[s.text.lower()]) for s in
                      note.find(Z_SHAPES, note.doc[cue.end : sentence.end])) if s.start - cue.end <= 3), None)
        at = None
        for value, span, _ in note.measures(note.doc[cue.end : sentence.end], CM):
            if span.end + 2 < len(note.doc) and note.doc[span.end].lower_ == "from":
                at = note.stated(value, span, unit="cm")
                break
        if shape or at:
            return shape, at
    return None, None


def _biopsies(note: Note) -> list[Stated[str]]:
    sites: dict[str, Stated[str]] = {}
    for cue in note.find(BIOPSY):
        if cue.start >= common.summary_start(note) or not common.affirmed(note, cue):
            continue
        before = note.lookup("upper_sites", note.doc[max(cue.start - 1, 0) : cue.start])
        clause = note.clause(cue)
        after_from = [s for s in note.find(["from", "of"], clause) if s.start > cue.start]
        named = note.lookup("upper_sites", note.doc[after_from[0].end : clause.end]) if after_from else []
        # Failing a named site, the one said nearest the biopsy ("ulcer in the incisura ... biopsies of it").
        near = sorted(note.lookup("upper_sites", clause), key=lambda f: abs(f[0].start - cue.start))[:1]
        chosen = named or before or near
        for span, value in chosen:
            for site in value.split("|"):
                sites.setdefault(site, note.stated(site, span))
    return list(sites.values())


def _ulcers(note: Note) -> list[Ulcer]:
    found = []
    for span in note.find(ULCER):
        if span.start >= common.summary_start(note) or not common.affirmed(note, span):
            continue
        sentence = span.sent
        if note.has(["prior", "previous", "earlier"], note.doc[span.end : sentence.end]):
            continue
        if span.start > 0 and note.doc[span.start - 1].lower_ in {"the", "this", "that", "its"}:
            continue  # "the ulcer edge": the one just described
        sizes = note.measures(sentence, MM)
        size = note.stated(sizes[0][0] * (10 if sizes[0][2] == "cm" else 1), sizes[0][1], unit="mm") if sizes else None
        sites = note.lookup("upper_sites", sentence)
        # "gastric ulcer ... in the incisura": the site named after the ulcer is the more precise one.
        sites.sort(key=lambda f: (f[0].start < span.start, abs(f[0].start - span.start)))
        location = note.stated(sites[0][1], sites[0][0]) if sites else None
        found.append(Ulcer(location=location, size_mm=size, forrest=_forrest(note, sentence)))
    return found


def _forrest(note: Note, where: Span) -> Stated[ForrestClass] | None:
    for cue in note.find(["forrest"], where):
        words = [t for t in note.doc[cue.end : min(cue.end + 4, len(note.doc))]
                 if t.lower_ not in {"class", "classification", "grade", "type"}]
        for n in (2, 1):
            key = "".join(t.lower_.rstrip(".") for t in words[:n])
            if key in FORREST:
                return note.stated(cast(ForrestClass, FORREST[key]), cue, words[n - 1])
    return None
