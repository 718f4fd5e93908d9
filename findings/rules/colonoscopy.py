"""Colonoscopy (and sigmoidoscopy) rules: indication, extent, landmarks, BBPS, withdrawal, polyps, follow-up."""

from __future__ import annotations

from spacy.tokens import Span, Token

from findings.models import ColonoscopyFindings, Indication, Stated
from findings.note import Note, number
from findings.rules import common, polyps

INDICATIONS: dict[str, Indication] = {"screening": "screening", "surveillance": "surveillance",
                                      "diagnostic": "diagnostic"}
PLAN_WORDS = {"recommend", "recommended", "repeat", "plan", "return", "next", "follow", "due"}
REACH = ["advanced", "advanced to", "advanced into", "advanced through", "reached", "intubated", "intubation",
         "entered",
         "passed to", "advanced up to", "inserted to", "was advanced to", "reaching", "reach", "intubate"]
BEYOND = ["advanced beyond", "advanced past", "passed beyond", "advanced further than", "pass beyond", "pass the",
          "advance beyond", "advance past"]
STOPPED = ["only", "incomplete", "stopped", "terminated", "aborted", "limited to"]
LANDMARK_CONTEXT = ["cecum", "cecal", "identified", "visualized", "landmarks", "photographed", "photo", "seen",
                    "confirmed", "documented"]
BBPS = ["boston bowel preparation scale", "boston bowel prep scale", "boston bowel preparation score",
        "boston bowel prep score", "boston score", "boston preparation score", "bbps", "boston scale"]
BBPS_SEGMENTS = {"right": "right", "ascending": "right", "transverse": "transverse", "left": "left",
                 "descending": "left", "sigmoid": "left", "total": "total", "overall": "total"}
FOLLOW_UP = ["repeat", "follow-up", "follow up", "surveillance", "screening", "return", "next"]
INTERVAL_UNITS = {"year": "a", "years": "a", "month": "mo", "months": "mo"}


def extract(note: Note) -> ColonoscopyFindings:
    found = ColonoscopyFindings(sedation=common.sedation(note), polyps=polyps.extract(note))
    found.complications, found.complication_kinds = common.complications(note)
    found.indication = _indication(note)
    found.extent, found.cecum_reached, found.incomplete_reason = _extent(note)
    found.landmarks = _landmarks(note, found.extent)
    documented = [m for m in found.landmarks if m.value != "terminal ileum"]
    if found.cecum_reached is None and documented:
        # Cecal intubation is documented by naming its landmarks (ASGE/ACG 2015, indicator 6).
        found.extent = found.extent or Stated[str](**documented[0].model_dump() | {"value": "cecum"})
        found.cecum_reached = Stated[bool](**documented[0].model_dump() | {"value": True})
    found.bbps_right, found.bbps_transverse, found.bbps_left, found.bbps_total = _bbps(note)
    found.withdrawal_minutes = _withdrawal(note)
    found.polyps_absent = polyps.absent(note, found.polyps)
    found.follow_up = _follow_up(note)
    return found


def _indication(note: Note) -> Stated[Indication] | None:
    for span in note.find(INDICATIONS):
        if {t.lower_ for t in span.sent} & PLAN_WORDS or note.polarity(span) != "affirmed":
            continue
        return note.stated(INDICATIONS[span.text.lower()], span)
    return None


def _extent(note: Note) -> tuple[Stated[str] | None, Stated[bool] | None, Stated[str] | None]:
    reached: list[tuple[Span, Span, str]] = []
    short: tuple[Span, Span, str] | None = None
    segments = note.lookup("colon_segments")
    for sentence in note.sentences():
        cues = note.find(REACH, sentence)
        beyond = note.find(BEYOND, sentence)
        for span, segment in ((s, v) for s, v in segments if s.sent == sentence):
            cue = next((c for c in reversed(cues) if c.end <= span.start and span.start - c.end <= 4), None)
            cue = cue or next((c for c in cues if c.start >= span.end and c.start - span.end <= 3), None)
            past = next((c for c in reversed(beyond) if c.end <= span.start and span.start - c.end <= 3), None)
            if past is not None and note.polarity(past) == "negated":
                short = short or (past, span, segment)
            elif cue is not None:
                polarity = note.polarity(cue)
                stopped = note.has(STOPPED, sentence)
                if polarity == "affirmed" and segment in {"cecum", "terminal ileum"}:
                    reached.append((cue, span, segment))
                elif polarity == "affirmed" and stopped:
                    short = short or (cue, span, segment)
                elif polarity == "negated" and segment in {"cecum", "terminal ileum"} and short is None:
                    short = (cue, span, "")
    if reached:
        cue, span, segment = max(reached, key=lambda r: r[2] == "terminal ileum")
        return note.stated(segment, span), note.stated(True, cue, span), None
    if short is None:
        return None, None, None
    cue, span, segment = short
    extent = note.stated(segment, span) if segment else None
    return extent, note.stated(False, cue, span), _reason(note, span.sent)


def _reason(note: Note, sentence: Span) -> Stated[str] | None:
    for span, reason in note.lookup("incomplete_reasons", sentence):
        return note.stated(reason, span)
    return None


def _landmarks(note: Note, extent: Stated[str] | None) -> list[Stated[str]]:
    seen: dict[str, Stated[str]] = {}
    for span, landmark in note.lookup("landmarks"):
        if landmark not in seen and common.affirmed(note, span) and note.has(LANDMARK_CONTEXT, span.sent):
            seen[landmark] = note.stated(landmark, span)
    if extent is not None and extent.value == "terminal ileum":
        seen["terminal ileum"] = extent
    return list(seen.values())


def _bbps(note: Note) -> tuple[Stated[int] | None, ...]:
    scores: dict[str, Stated[int]] = {}
    for cue in note.find(BBPS):
        tail = note.doc[cue.end : cue.sent.end]
        numbers = [t for t in tail if number(t) is not None and number(t) == int(number(t) or 0)]
        rest = []
        for token in numbers:
            label = _bbps_label(note, token)
            if label and label not in scores:
                scores[label] = note.stated(int(number(token) or 0), token)
            elif not label:
                rest.append(token)
        values = [int(number(t) or 0) for t in rest]
        segments = [k for k in ("right", "transverse", "left") if k not in scores]
        if len(segments) == 3 and len(values) in (3, 4) and all(v <= 3 for v in values[:3]):
            # "BBPS 3, 3, 2" is right, transverse, left (the scale's order); a fourth is the total.
            for label, token in zip((*segments, "total"), rest, strict=False):
                scores.setdefault(label, note.stated(int(number(token) or 0), token))
        elif not scores and len(values) == 1 and values[0] <= 9:
            scores["total"] = note.stated(values[0], rest[0])
        if scores:
            break
    return tuple(scores.get(k) for k in ("right", "transverse", "left", "total"))


def _bbps_label(note: Note, token: Token) -> str | None:
    """A score's segment from the word just before it ("right 3") or just after ("3 in the right colon")."""
    i = token.i
    before = [note.doc[j].lower_ for j in range(max(i - 2, 0), i)]
    after = [note.doc[j].lower_ for j in range(i + 1, min(i + 4, len(note.doc)))]
    for word in reversed(before):
        if word in BBPS_SEGMENTS:
            return BBPS_SEGMENTS[word]
    if after[:1] in (["in"], ["for"]):
        for word in after[1:]:
            if word in BBPS_SEGMENTS:
                return BBPS_SEGMENTS[word]
    return None


def _withdrawal(note: Note) -> Stated[float] | None:
    for cue in note.find(["withdrawal time", "withdrawal", "withdrew"]):
        tail = note.doc[cue.end : cue.sent.end]
        for value, span, _ in note.measures(tail, {"minutes": "min", "minute": "min", "min": "min"}):
            end = span
            seconds = note.measures(note.doc[span.end : min(span.end + 4, cue.sent.end)],
                                    {"seconds": "s", "second": "s"})
            if seconds:
                value, end = value + seconds[0][0] / 60, seconds[0][1]
            return note.stated(round(value, 2), span, end, unit="min")
    return None


def _follow_up(note: Note) -> Stated[float] | None:
    for sentence in note.sentences():
        if not note.has(FOLLOW_UP, sentence):
            continue
        for i, token in enumerate(sentence[:-2]):
            value, unit = number(sentence[i + 1]), sentence[i + 2].lower_
            if token.lower_ == "in" and value is not None and unit in INTERVAL_UNITS:
                return note.stated(value, sentence[i + 1 : i + 3], unit=INTERVAL_UNITS[unit])
    return None
