"""The API's browser pages (`/dictate`, `/quality`, `/review/{id}`): static, self-contained files served
with one policy and no caching, so a page that holds an API key (and, for two of them, PHI or the
microphone) is always revalidated and runs only the script it ships."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

STATIC = Path(__file__).resolve().parent / "static"
PAGE_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
"""Only files this API serves, no inline script or style, no plugins, no <base> or form target, never framed
(clickjacking a page's buttons). `'self'` covers a session's ws:/wss: stream on this host."""
FRESH = {"Cache-Control": "no-cache"}
"""The pages hold an API key: browsers must revalidate, never reuse a stale copy."""
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def page(name: str, policy: str = PAGE_POLICY, fill: dict[str, str] | None = None) -> HTMLResponse:
    """The HTML file `name` of `static/`, each `fill` marker replaced by its text, with the page headers."""
    html = (STATIC / name).read_text()
    for marker, text in (fill or {}).items():
        html = html.replace(marker, text)
    return HTMLResponse(html, headers={**FRESH, "Content-Security-Policy": policy})


def serve_files(router: APIRouter, *names: str) -> None:
    """Serve each script or style sheet of `static/` at `/<name>`, with its media type and no caching."""
    for name in names:
        media_type = _MEDIA_TYPES[Path(name).suffix]

        def serve(name: str = name, media_type: str = media_type) -> Response:
            return Response((STATIC / name).read_bytes(), headers=FRESH, media_type=media_type)

        router.add_api_route(f"/{name}", serve, methods=["GET"], include_in_schema=False,
                             name=name.replace(".", "_").replace("-", "_"))
