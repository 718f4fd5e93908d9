"""Colonoscopy quality measures over stored findings: pure functions, no transcript text, no spaCy.

The measures are the ASGE/ACG colonoscopy quality indicators (Rex et al. 2015; 2024 update) that a
note can document, as GIQuIC collects them; `findings/data/sources.json` names each one's source.
Each rate keeps its numerator and denominator: a note that does not state a field is not in that
field's denominator, and is counted in `missing` instead (documentation completeness, which a unit can
act on). A `QualityRecord` is all a measure needs from one note: values, no words, no spans, no
times, so a key can keep its records (and so its quality numbers) after its transcripts expire.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from findings.models import ColonoscopyFindings

WITHDRAWAL_TARGET_MINUTES = 6.0
"""ASGE/ACG: mean withdrawal time of at least 6 minutes in negative screening colonoscopies."""
ADEQUATE_BBPS_SEGMENT = 2
"""Adequate preparation: BBPS of 2 or more in every segment (Lai et al. 2009; ASGE/ACG 2024)."""
DOCUMENTED = ("indication", "cecum_reached", "bbps", "withdrawal_minutes", "polyps", "complications", "follow_up")


class QualityRecord(BaseModel):
    """What the measures need from one colonoscopy note (PHI-free: no text, no spans)."""

    indication: str | None = None
    cecum_reached: bool | None = None
    bbps: tuple[int, int, int] | None = None
    """Right, transverse, left; None unless all three were stated."""
    withdrawal_minutes: float | None = None
    polyps: int | None = None
    """Polyps found; 0 when the note says none were; None when it says neither."""
    complications: bool | None = None
    follow_up: bool = False


def quality_record(findings: ColonoscopyFindings) -> QualityRecord:
    segments = (findings.bbps_right, findings.bbps_transverse, findings.bbps_left)
    polyps = len(findings.polyps) if findings.polyps else (0 if findings.polyps_absent else None)
    return QualityRecord(
        indication=findings.indication.value if findings.indication else None,
        cecum_reached=findings.cecum_reached.value if findings.cecum_reached else None,
        bbps=(segments[0].value, segments[1].value, segments[2].value) if all(segments) else None,  # type: ignore[union-attr]
        withdrawal_minutes=findings.withdrawal_minutes.value if findings.withdrawal_minutes else None,
        polyps=polyps,
        complications=findings.complications.value if findings.complications else None,
        follow_up=findings.follow_up is not None,
    )


# Field docstrings are the OpenAPI descriptions (docs/reference/api.md), for whoever reads the report.
_DESCRIBED = ConfigDict(use_attribute_docstrings=True)


class Rate(BaseModel):
    """A share of the notes that state a field, with its counts."""

    model_config = _DESCRIBED
    numerator: int
    denominator: int
    """The notes that state the field (a note that does not is counted in `missing` instead)."""
    rate: float | None
    """numerator / denominator, rounded to 4 places; None with no denominator."""


class WithdrawalTimes(BaseModel):
    model_config = _DESCRIBED
    count: int
    """Notes stating a withdrawal time."""
    mean_minutes: float | None
    median_minutes: float | None
    at_least_6_minutes: Rate
    """Notes with a withdrawal time of 6 minutes or more, over notes stating one."""


class QualityReport(BaseModel):
    """ASGE/ACG colonoscopy quality measures over a set of notes (docs: Quality report)."""

    model_config = _DESCRIBED
    notes: int
    """Completed colonoscopy (and sigmoidoscopy) notes counted."""
    cecal_intubation: Rate
    """Cecum or terminal ileum reached, over notes stating the extent either way."""
    withdrawal: WithdrawalTimes
    adequate_preparation: Rate
    """BBPS of 2 or more in every segment, over notes stating all three segment scores."""
    polyp_detection: Rate
    """Notes with at least one polyp, over notes stating polyps or their absence."""
    screening_polyp_detection: Rate
    """The same, over screening notes."""
    complications: Rate
    """Notes stating a complication, over notes stating one or none."""
    missing: dict[str, int]
    """Per field, the notes that did not state it."""


def _rate(numerator: int, denominator: int) -> Rate:
    return Rate(numerator=numerator, denominator=denominator,
                rate=round(numerator / denominator, 4) if denominator else None)


def _missing(records: list[QualityRecord]) -> dict[str, int]:
    counts = dict.fromkeys(DOCUMENTED, 0)
    for r in records:
        for field in DOCUMENTED:
            value = getattr(r, field)
            counts[field] += value is None or (field == "follow_up" and not value)
    return counts


def quality_report(notes: Iterable[QualityRecord | ColonoscopyFindings]) -> QualityReport:
    records = [n if isinstance(n, QualityRecord) else quality_record(n) for n in notes]
    reached = [r.cecum_reached for r in records if r.cecum_reached is not None]
    times = [r.withdrawal_minutes for r in records if r.withdrawal_minutes is not None]
    preps = [r.bbps for r in records if r.bbps is not None]
    polyps = [r.polyps for r in records if r.polyps is not None]
    screening = [r.polyps for r in records if r.polyps is not None and r.indication == "screening"]
    complications = [r.complications for r in records if r.complications is not None]
    return QualityReport(
        notes=len(records),
        cecal_intubation=_rate(sum(reached), len(reached)),
        withdrawal=WithdrawalTimes(
            count=len(times),
            mean_minutes=round(statistics.fmean(times), 2) if times else None,
            median_minutes=round(statistics.median(times), 2) if times else None,
            at_least_6_minutes=_rate(sum(t >= WITHDRAWAL_TARGET_MINUTES for t in times), len(times)),
        ),
        adequate_preparation=_rate(sum(min(p) >= ADEQUATE_BBPS_SEGMENT for p in preps), len(preps)),
        polyp_detection=_rate(sum(n > 0 for n in polyps), len(polyps)),
        screening_polyp_detection=_rate(sum(n > 0 for n in screening), len(screening)),
        complications=_rate(sum(complications), len(complications)),
        missing=_missing(records),
    )


def _rows(report: QualityReport) -> list[list[object]]:
    rows: list[list[object]] = [["notes", report.notes, "", ""]]
    for name in ("cecal_intubation", "adequate_preparation", "polyp_detection", "screening_polyp_detection",
                 "complications"):
        rate: Rate = getattr(report, name)
        rows.append([f"{name}_rate", "" if rate.rate is None else rate.rate, rate.numerator, rate.denominator])
    w = report.withdrawal
    rows.append(["withdrawal_mean_minutes", "" if w.mean_minutes is None else w.mean_minutes, "", w.count])
    rows.append(["withdrawal_median_minutes", "" if w.median_minutes is None else w.median_minutes, "", w.count])
    share = w.at_least_6_minutes
    rows.append(["withdrawal_at_least_6_minutes_rate", "" if share.rate is None else share.rate,
                 share.numerator, share.denominator])
    rows.extend([f"missing_{field}", count, count, report.notes] for field, count in report.missing.items())
    return rows


def quality_csv(report: QualityReport, periods: Iterable[tuple[date, date, QualityReport]] = ()) -> str:
    """One row per measure: measure, value, numerator, denominator (spreadsheet-ready). With `periods`
    (first day, last day, report), each row starts with its period's days, the whole window's first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["measure", "value", "numerator", "denominator"]
    parts = list(periods)
    if not parts:
        writer.writerows([header, *_rows(report)])
        return out.getvalue()
    writer.writerow(["from", "to", *header])
    first, last = parts[0][0], parts[-1][1]
    for start, end, part in ((first, last, report), *parts):
        writer.writerows([start.isoformat(), end.isoformat(), *row] for row in _rows(part))
    return out.getvalue()


Bucket = Literal["week", "month"]
DAY = timedelta(days=1)


def period_bounds(first: date, last: date, bucket: Bucket) -> Iterator[tuple[date, date]]:
    """The calendar weeks (Monday to Sunday) or months that meet [first, last], each clipped to it,
    lazily (a caller can stop at a limit before a long window's are all made)."""
    start = first
    while True:
        if bucket == "week":
            days_left = 6 - start.weekday()
        else:
            month_end = date(start.year, 12, 31) if start.month == 12 else date(start.year, start.month + 1, 1) - DAY
            days_left = (month_end - start).days
        # Counted from `start`, clipped to `last`: the last period never reaches past date.max.
        end = start + timedelta(days=min(days_left, (last - start).days))
        yield start, end
        if end == last:
            return
        start = end + DAY
