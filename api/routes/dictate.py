"""`/dictate`: the browser page for live dictation (static, self-contained; it calls `/v1/sessions`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["live sessions"])

PAGE = Path(__file__).resolve().parent.parent / "static" / "dictate.html"


@router.get("/dictate", response_class=HTMLResponse, include_in_schema=False)
def dictate_page() -> HTMLResponse:
    """Record from the microphone and watch the text appear (the API key is typed into the page)."""
    return HTMLResponse(PAGE.read_text(), headers={"Cache-Control": "no-cache"})
