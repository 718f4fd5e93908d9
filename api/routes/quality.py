"""`/v1/quality`: a key's colonoscopy quality measures over its completed jobs, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from api.deps import RedisDep, TenantDep
from api.errors import error_responses
from core.errors import InvalidInput
from core.quality_records import QUALITY_NOTE_TYPES, read_records
from findings.quality import QualityReport, quality_csv, quality_report

router = APIRouter(prefix="/v1/quality", tags=["quality"])
CSV = "text/csv; charset=utf-8"
DAY = r"^\d{4}-\d{2}-\d{2}$"


def _day(text: str, name: str) -> date:
    # A pattern, not a `date` parameter: pydantic would also take `to=0` (epoch seconds) as a day.
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}={text} is not a day; send YYYY-MM-DD") from None


class QualityWindow(QualityReport):
    """The measures, and the window and note type they were taken over."""

    start: date
    end: date
    """The last day counted (inclusive)."""
    note_type: str | None


@router.get("", response_model=QualityWindow,
            responses={200: {"content": {CSV: {}}}, **error_responses(400, 401, 422, 429)})
def read_quality(
    client: RedisDep, tenant: TenantDep,
    start: Annotated[str | None, Query(alias="from", pattern=DAY, description="first day (UTC, YYYY-MM-DD), "
                                       "default 30 days before `to`")] = None,
    end: Annotated[str | None, Query(alias="to", pattern=DAY, description="last day (UTC, inclusive), "
                                     "default today")] = None,
    note_type: Annotated[Literal["colonoscopy", "sigmoidoscopy"] | None, Query(description="default: both")] = None,
    format: Annotated[Literal["json", "csv"] | None, Query(description="default: from Accept")] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response:
    """This key's ASGE/ACG colonoscopy quality measures over its jobs completed in the window: rates with
    numerator and denominator, withdrawal times, and per field the notes that did not state it."""
    last = _day(end, "to") if end else datetime.now(UTC).date()
    first = _day(start, "from") if start else last - timedelta(days=30)
    if first > last:
        raise InvalidInput(f"from ({first}) is after to ({last}); swap them")
    since = datetime.combine(first, time(), UTC).timestamp()
    until = datetime.combine(last + timedelta(days=1), time(), UTC).timestamp()
    kinds = QUALITY_NOTE_TYPES if note_type is None else (note_type,)
    records = [r for kind in kinds for r in read_records(client, tenant, since, until, kind)]
    report = quality_report(records)
    if format == "csv" or (format is None and "text/csv" in accept):
        return Response(quality_csv(report), media_type=CSV)
    body = QualityWindow(**report.model_dump(), start=first, end=last, note_type=note_type)
    return Response(body.model_dump_json(), media_type="application/json")
