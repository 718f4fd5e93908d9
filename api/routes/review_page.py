"""`/review/{job_id}`: the browser page where a clinician checks a note against its flags and audio,
corrects it, signs it and amends it (static, self-contained; it calls `/v1/jobs/{id}` and its
`/result`, `/audio`, `/document` and `/sign` with the key typed into it), and the files it loads.

The legend of review flags is written into the page here, from `ReviewReason` (each reason's meaning
and whether it signals doubt): the script reads it from the page, so the reasons are declared once.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.pages import PAGE_POLICY, page, serve_files
from core.review_flags import ReviewReason

router = APIRouter(tags=["documents"])
# The audio is fetched with the key (a media element cannot send one) and played from a blob: URL the
# page makes of it; nothing else is widened.
REVIEW_POLICY = f"{PAGE_POLICY}; media-src 'self' blob:"
_LEGEND = "<!-- the reasons -->"


def reason_label(reason: ReviewReason) -> str:
    """How the page names a reason: `number_or_unit` is "number or unit"."""
    return reason.value.replace("_", " ")


def legend() -> str:
    """Every reason as a term and its meaning, doubtful ones apart from those shown to be always checked."""
    rows = []
    for reason in ReviewReason:
        kind = "doubt" if reason.doubt else "check"
        rows.append(f'<dt class="{kind}" data-reason="{reason.value}" data-doubt="{str(reason.doubt).lower()}">'
                    f'<span class="swatch {kind}">{escape(reason_label(reason))}</span></dt>'
                    f"<dd>{escape(reason.meaning)}</dd>")
    return "\n".join(rows)


@router.get("/review/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def review_page(job_id: str) -> HTMLResponse:
    """A job's note with its review flags and audio, to correct, sign and amend (the key is typed in).
    The page is the same for every job: it reads the id from its own address."""
    return page("review.html", REVIEW_POLICY, fill={_LEGEND: legend()})


serve_files(router, "review.js", "review.css")
