"""`/review/{job_id}`: the browser page where a clinician checks a note against its flags and audio,
corrects it, signs it and amends it (static, self-contained; it calls `/v1/jobs/{id}` and its
`/result`, `/audio`, `/document` and `/sign` with the key typed into it), and the files it loads.

The legend of review flags is written into the page here, from `ReviewReason` (each reason's meaning
and whether it signals doubt): the script reads it from the page, so the reasons are declared once.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.routes.dictate import PAGE_POLICY, STATIC
from core.review_flags import ReviewReason

router = APIRouter(tags=["documents"])
# The audio is fetched with the key (a media element cannot send one) and played from a blob: URL the
# page makes of it; nothing else is widened.
REVIEW_POLICY = f"{PAGE_POLICY}; media-src 'self' blob:"
# The page holds an API key and PHI: browsers must revalidate, never reuse a stale copy.
_FRESH = {"Cache-Control": "no-cache"}
_FILES = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}
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
    page = (STATIC / "review.html").read_text().replace(_LEGEND, legend())
    return HTMLResponse(page, headers={**_FRESH, "Content-Security-Policy": REVIEW_POLICY})


def _serve(name: str) -> Response:
    return Response((STATIC / name).read_bytes(), headers=_FRESH, media_type=_FILES[name])


@router.get("/review.js", include_in_schema=False)
def review_script() -> Response:
    return _serve("review.js")


@router.get("/review.css", include_in_schema=False)
def review_style() -> Response:
    return _serve("review.css")
