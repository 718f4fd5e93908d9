"""Headers that keep the API's answers from being sniffed, leaking referrers or (for its HTML pages)
being framed or running script they did not ship.

Every answer gets `nosniff` and `no-referrer`. An HTML page that declares no Content-Security-Policy
of its own (the docs: `/docs`, `/redoc`, served by fastapi_offline) gets one that allows only the
API's own files, plus its own inline scripts by hash. `/dictate` declares a stricter one itself.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EVERY_ANSWER = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# ReDoc injects <style> elements and searches in a worker from a blob: URL; both pages use data: images.
_DOCS_POLICY = ("default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "
                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)


def docs_policy(page: bytes) -> str:
    """The CSP for a page whose inline scripts are its own: each is allowed by its SHA-256."""
    hashes = "".join(f" 'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'"
                     for s in _INLINE_SCRIPT.findall(page))
    return _DOCS_POLICY.format(hashes=hashes)


class PageHeaders:
    """ASGI middleware adding those headers. An HTML answer without a CSP is held until its body is
    complete, to hash its scripts: the docs pages are a few kilobytes, and nothing else is HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def send_with_headers(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_ANSWER.items():
                    headers.setdefault(name, value)
                if (headers.get("content-type", "").startswith("text/html")
                        and "content-security-policy" not in headers):
                    held = message
                    return
            elif message["type"] == "http.response.body" and held is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                MutableHeaders(scope=held)["Content-Security-Policy"] = docs_policy(bytes(body))
                await send(held)
                message = {"type": "http.response.body", "body": bytes(body)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
