"""Which host the API is: the names it answers to, and the base of every URL it gives out.

A request's `Host` header is the client's to choose. Reflected into `status_url`, `stream_url` or a
callback, it lets a proxy or a crafted request point clients (and EHRs) elsewhere; answered whatever
it says, it lets a web page rebind its own name to 127.0.0.1 and read an open development API from
the user's browser. So the API answers only loopback names, the host of ENDOSCRIBE_PUBLIC_URL and the
operator's ENDOSCRIBE_ALLOWED_HOSTS, and with API keys it builds URLs from the public URL alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import reply_error
from core.errors import ErrorCode, InvalidInput
from core.settings import Settings

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
"""Names only a client on this machine sends: the development API's, and the container's own health check."""
# Liveness carries nothing from the request or the data, and orchestrators probe by address.
UNCHECKED_PATHS = frozenset({"/health"})
_ACCEPTED = "endoscribe.host_accepted"


class InvalidHost(InvalidInput):
    code = ErrorCode.INVALID_HOST


def base_url(request: HTTPConnection, settings: Settings) -> str:
    """The base of every URL the API gives out: ENDOSCRIBE_PUBLIC_URL, required with API keys. Without it
    (development, no keys) the request's own, whose Host `HostGuard` has checked to be a loopback name."""
    return settings.public_url or str(request.base_url)


def job_urls(base_url: str, job_id: str) -> tuple[str, str]:
    """The status and result URLs of a job."""
    base = base_url.rstrip("/")
    return f"{base}/v1/jobs/{job_id}", f"{base}/v1/jobs/{job_id}/result"


def session_urls(base_url: str, session_id: str, token: str, read_token: str) -> tuple[str, str]:
    """The WebSocket URL of a session with its write token, and its SSE URL with its read-only one."""
    base = base_url.rstrip("/")
    ws_base = "wss://" + base.removeprefix("https://") if base.startswith("https://") else \
        "ws://" + base.removeprefix("http://")
    return (f"{ws_base}/v1/sessions/{session_id}/stream?token={token}",
            f"{base}/v1/sessions/{session_id}/events?token={read_token}")


def check_public_url(settings: Settings) -> None:
    """At start-up: an API with keys must know its public URL, or it would have to trust the Host header."""
    if settings.api_keys and not settings.public_url:
        raise RuntimeError(
            "ENDOSCRIBE_PUBLIC_URL is empty: with ENDOSCRIBE_API_KEYS set, every URL the API gives out "
            "(status_url, result_url, stream_url, callbacks) is built on it, never on a request's Host header. "
            "Set it to the URL clients reach the API at, e.g. https://endoscribe.example.org")


def allowed_hosts(settings: Settings) -> list[str]:
    """The Host names answered: loopback, the public URL's host, and the operator's extra names."""
    hosts = [*LOOPBACK_HOSTS, *(h.lower() for h in settings.allowed_hosts)]
    if settings.public_url and (name := urlsplit(settings.public_url).hostname):
        hosts.append(f"[{name}]" if ":" in name else name)
    return hosts


class HostGuard:
    """ASGI middleware: Starlette's `TrustedHostMiddleware` judges the Host; a refusal is answered with
    the error envelope (a WebSocket is closed with 1008 before it is accepted)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.judge = TrustedHostMiddleware(_accept, allowed_hosts=allowed_hosts(settings), www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in UNCHECKED_PATHS:
            await self.app(scope, receive, send)
            return
        await self.judge(scope, receive, _discard)
        if scope.pop(_ACCEPTED, False):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await reply_error(send, InvalidHost(
                f"this API does not answer to the host name {_host(scope)!r}; reach it at its public URL, or add "
                "the name to ENDOSCRIBE_ALLOWED_HOSTS"))


async def _accept(scope: Scope, _receive: Receive, _send: Send) -> None:
    scope[_ACCEPTED] = True


async def _discard(_message: object) -> None:
    """What the judge would send for a refused host (a plain-text 400): replaced by the envelope."""


def _host(scope: Scope) -> str:
    raw: str = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
    name = raw if raw.endswith("]") else raw.rsplit(":", 1)[0]  # without the port
    return name[:100]
