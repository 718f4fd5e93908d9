"""`/v1/quality`: a key's colonoscopy quality measures over its completed jobs, as JSON or CSV, for the
whole window and, with `bucket`, per calendar week or month of it."""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from api.deps import RedisDep, TenantDep
from api.errors import error_responses
from core.errors import InvalidInput
from core.quality_records import QUALITY_NOTE_TYPES, read_dated_records
from findings.quality import Bucket, QualityRecord, QualityReport, period_bounds, quality_csv, quality_report
from findings.quality_targets import Target, quality_targets

router = APIRouter(prefix="/v1/quality", tags=["quality"])
CSV = "text/csv; charset=utf-8"
DAY = r"^\d{4}-\d{2}-\d{2}$"
LAST_DAY = date.max - timedelta(days=1)
"""The window ends at midnight after its last day, which must still be a date."""
MAX_PERIODS = 260
"""Five years of weeks: a longer window is bucketed by month (or narrowed)."""


def _day(text: str, name: str) -> date:
    # A pattern, not a `date` parameter: pydantic would also take `to=0` (epoch seconds) as a day.
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}={text} is not a day; send YYYY-MM-DD") from None
    if day > LAST_DAY:
        raise InvalidInput(f"{name}={text} is past the last day a window can count ({LAST_DAY})")
    return day


def _epoch(day: date) -> float:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time(), UTC).timestamp()


class QualityPeriod(QualityReport):
    """The measures over one calendar week or month of the window (clipped to the window)."""

    start: date
    end: date
    """The last day counted (inclusive)."""


class QualityWindow(QualityReport):
    """The measures, the window and note type they were taken over, and the targets to read them by."""

    start: date
    end: date
    """The last day counted (inclusive)."""
    note_type: str | None
    bucket: Bucket | None = None
    periods: list[QualityPeriod] | None = None
    """With `bucket`: the measures per calendar week (Monday to Sunday) or month, oldest first."""
    targets: list[Target]
    """The ASGE/ACG targets of these measures, each with its citation (reference lines, not verdicts)."""


def _periods(dated: list[tuple[float, QualityRecord]], bounds: list[tuple[date, date]]) -> list[QualityPeriod]:
    times = [ended for ended, _ in dated]
    periods = []
    for start, end in bounds:
        low, high = bisect.bisect_left(times, _epoch(start)), bisect.bisect_left(times, _epoch(end + timedelta(days=1)))
        report = quality_report(record for _, record in dated[low:high])
        periods.append(QualityPeriod(**report.model_dump(), start=start, end=end))
    return periods


@router.get("", response_model=QualityWindow,
            responses={200: {"content": {CSV: {}}}, **error_responses(400, 401, 422, 429)})
def read_quality(
    client: RedisDep, tenant: TenantDep,
    start: Annotated[str | None, Query(alias="from", pattern=DAY, description="first day (UTC, YYYY-MM-DD), "
                                       "default 30 days before `to`")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY, description="last day (UTC, inclusive), "
                                     "default today")] = None,
    note_type: Annotated[Literal["colonoscopy", "sigmoidoscopy"] | None, Query(description="default: both")] = None,
    bucket: Annotated[Bucket | None, Query(description="also the measures per calendar week or month "
                                           f"(at most {MAX_PERIODS} periods)")] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="default: from Accept")] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response:
    """This key's ASGE/ACG colonoscopy quality measures over its jobs completed in the window: rates with
    numerator and denominator, withdrawal times, and per field the notes that did not state it."""
    last = _day(end, "to") if end else datetime.now(UTC).date()
    first = _day(start, "from") if start else last - timedelta(days=30)
    if first > last:
        raise InvalidInput(f"from ({first}) is after to ({last}); swap them")
    bounds = list(islice(period_bounds(first, last, bucket), MAX_PERIODS + 1)) if bucket else []
    if len(bounds) > MAX_PERIODS:
        raise InvalidInput(f"from {first} to {last} is more than {MAX_PERIODS} {bucket}s; narrow the window"
                           f"{' or send bucket=month' if bucket == 'week' else ''}")
    kinds = QUALITY_NOTE_TYPES if note_type is None else (note_type,)
    dated = read_dated_records(client, tenant, _epoch(first), _epoch(last + timedelta(days=1)), kinds)
    report = quality_report(record for _, record in dated)
    periods = _periods(dated, bounds) if bucket else None
    if format == "csv" or (format is None and "text/csv" in accept):
        by_period = [(p.start, p.end, p) for p in periods or []]
        return Response(quality_csv(report, by_period), media_type=CSV)
    body = QualityWindow(**report.model_dump(), start=first, end=last, note_type=note_type, bucket=bucket,
                         periods=periods, targets=list(quality_targets()))
    return Response(body.model_dump_json(), media_type="application/json")
