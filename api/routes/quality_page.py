"""`/quality`: the browser page for a key's quality measures (static, self-contained; it calls
`/v1/quality` with the key typed into it), and the script and style sheet it loads."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.routes.dictate import PAGE_POLICY, STATIC

router = APIRouter(tags=["quality"])
# The page holds an API key: browsers must revalidate, never reuse a stale copy.
_FRESH = {"Cache-Control": "no-cache"}
_FILES = {"quality.js": "text/javascript; charset=utf-8", "quality.css": "text/css; charset=utf-8"}


@router.get("/quality", response_class=HTMLResponse, include_in_schema=False)
def quality_page() -> HTMLResponse:
    """The quality measures of a window, their trend per week or month, and the CSV (the key is typed in)."""
    return HTMLResponse((STATIC / "quality.html").read_text(),
                        headers={**_FRESH, "Content-Security-Policy": PAGE_POLICY})


def _serve(name: str) -> Response:
    return Response((STATIC / name).read_bytes(), headers=_FRESH, media_type=_FILES[name])


@router.get("/quality.js", include_in_schema=False)
def quality_script() -> Response:
    return _serve("quality.js")


@router.get("/quality.css", include_in_schema=False)
def quality_style() -> Response:
    return _serve("quality.css")
