"""`/dictate`: the browser page for live dictation (static, self-contained; it calls `/v1/sessions`),
and the script, worklet and style sheet it loads."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["live sessions"])

STATIC = Path(__file__).resolve().parent.parent / "static"
# Only files this API serves, no inline script or style, no plugins, no <base> or form target, never
# framed (clickjacking the Start button). `'self'` covers the session's ws:/wss: stream on this host.
PAGE_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
# The page holds an API key and the microphone: browsers must revalidate, never reuse a stale copy.
_FRESH = {"Cache-Control": "no-cache"}
_FILES = {"dictate.js": "text/javascript; charset=utf-8", "dictate-worklet.js": "text/javascript; charset=utf-8",
          "dictate.css": "text/css; charset=utf-8"}


@router.get("/dictate", response_class=HTMLResponse, include_in_schema=False)
def dictate_page() -> HTMLResponse:
    """Record from the microphone and watch the text appear (the API key is typed into the page)."""
    return HTMLResponse((STATIC / "dictate.html").read_text(),
                        headers={**_FRESH, "Content-Security-Policy": PAGE_POLICY})


def _serve(name: str) -> Response:
    return Response((STATIC / name).read_bytes(), headers=_FRESH, media_type=_FILES[name])


@router.get("/dictate.js", include_in_schema=False)
def dictate_script() -> Response:
    return _serve("dictate.js")


@router.get("/dictate-worklet.js", include_in_schema=False)
def dictate_worklet() -> Response:
    return _serve("dictate-worklet.js")


@router.get("/dictate.css", include_in_schema=False)
def dictate_style() -> Response:
    return _serve("dictate.css")
