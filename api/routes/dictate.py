"""`/dictate`: the browser page for live dictation (static, self-contained; it calls `/v1/sessions`),
and the script, worklet and style sheet it loads."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.pages import page, serve_files

router = APIRouter(tags=["live sessions"])


@router.get("/dictate", response_class=HTMLResponse, include_in_schema=False)
def dictate_page() -> HTMLResponse:
    """Record from the microphone and watch the text appear (the API key is typed into the page)."""
    return page("dictate.html")


serve_files(router, "dictate.js", "dictate-worklet.js", "dictate.css")
