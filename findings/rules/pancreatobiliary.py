"""ERCP and EUS rules: cannulation, sphincterotomy, stents placed, stones cleared."""

from __future__ import annotations

from findings.models import PancreatobiliaryFindings, Stated, Stent
from findings.note import Note, number
from findings.rules import common

CANNULATION = ["cannulation", "cannulated", "cannulate"]
FAILED = ["failed", "unsuccessful", "unable", "could not", "not possible"]
STENT = ["stent", "stents"]
PLACED = {"placed", "inserted", "deployed", "placement", "left"}
REMOVED = {"removed", "removal", "extracted", "exchanged", "retrieved"}
FRENCH = {"french": "[Fr]", "fr": "[Fr]"}
CM = {"cm": "cm", "centimeter": "cm", "centimeters": "cm"}
LENGTH = {**CM, "mm": "mm", "millimeter": "mm", "millimeters": "mm"}
CLEARED = ["cleared", "clearance", "clear", "no residual", "no remaining", "all stones", "all of the stones"]
NOT_CLEARED = ["residual stone", "residual stones", "incomplete clearance", "not cleared", "not be cleared",
               "could not be extracted", "unable to extract", "unable to clear", "remained"]


def extract(note: Note) -> PancreatobiliaryFindings:
    found = PancreatobiliaryFindings(sedation=common.sedation(note), stents=_stents(note))
    found.complications, found.complication_kinds = common.complications(note)
    found.cannulation = _cannulation(note)
    found.sphincterotomy = common.yes_or_no(note, ["sphincterotomy"])
    found.stones_cleared = _stones(note)
    return found


def _cannulation(note: Note) -> Stated[bool] | None:
    for cue in note.find(CANNULATION):
        if note.historical(cue):
            continue
        polarity = note.polarity(cue)
        if note.has(FAILED, cue.sent) or polarity == "negated":
            return note.stated(False, cue)
        if polarity == "affirmed":
            return note.stated(True, cue)
    return None


def _stents(note: Note) -> list[Stent]:
    found: list[Stent] = []
    for span in note.find(STENT):
        sentence = span.sent
        words = {t.lower_ for t in sentence}
        if span.start >= common.summary_start(note) or not common.affirmed(note, span):
            continue
        if not words & PLACED or (words & REMOVED and not words & PLACED):
            continue
        lead = note.doc[max(sentence.start, span.start - 10) : span.end]
        french = note.measures(lead, FRENCH)
        # "10 French by 7 cm", "10 mm by 60 mm": the length is the measure after "by".
        lengths = [(v * (0.1 if u == "mm" else 1), m, u) for v, m, u in note.measures(lead, LENGTH)
                   if m.start > 0 and note.doc[m.start - 1].lower_ in {"by", "x"}]
        kind = note.lookup("stent_kinds", lead)
        duct = note.lookup("ducts", sentence)
        count = next((int(v) for t in lead if (v := number(t)) is not None and 1 < v < 6
                      and t.i + 1 < len(note.doc) and note.doc[t.i + 1].lower_ not in FRENCH | LENGTH), 1)
        stent = Stent(
            kind=note.stated(kind[-1][1], kind[-1][0]) if kind else None,
            french=note.stated(french[0][0], french[0][1], unit="[Fr]") if french else None,
            length_cm=note.stated(round(lengths[0][0], 1), lengths[0][1], unit="cm") if lengths else None,
            duct=note.stated(duct[0][1], duct[0][0]) if duct else None,
        )
        found.extend([stent] * count)
    return found


def _stones(note: Note) -> Stated[bool] | None:
    for sentence in note.sentences():
        if not note.has(["stone", "stones", "choledocholithiasis", "debris"], sentence):
            continue
        for span in note.find(NOT_CLEARED, sentence):
            if note.polarity(span) == "affirmed":
                return note.stated(False, span)
        for span in note.find(CLEARED, sentence):
            polarity = note.polarity(span)
            if span.text.lower().startswith("no "):
                return note.stated(True, span)
            if polarity != "uncertain":
                return note.stated(polarity == "affirmed", span)
    return None
