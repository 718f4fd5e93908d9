"""`/quality`: the browser page for a key's quality measures (static, self-contained; it calls
`/v1/quality` with the key typed into it), and the script and style sheet it loads."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.pages import page, serve_files

router = APIRouter(tags=["quality"])


@router.get("/quality", response_class=HTMLResponse, include_in_schema=False)
def quality_page() -> HTMLResponse:
    """The quality measures of a window, their trend per week or month, and the CSV (the key is typed in)."""
    return page("quality.html")


serve_files(router, "quality.js", "quality.css")
