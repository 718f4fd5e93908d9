"""The API's Prometheus metrics: requests by route template and status, refusals by error code, and
`GET /metrics`, which also exports the cluster's figures from Redis (`core.cluster_metrics`).

Labels name a route as it is declared (`/v1/jobs/{job_id}`), never the path a client sent, and an
error by its code: no job id, key, or file name ever reaches Prometheus.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import ErrorCode, NotFound, Unauthorized
from core.job_metrics import label_value
from core.settings import MetricsSettings

log = logging.getLogger("endoscribe.api")

# Uploads of hundreds of MB take minutes; the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404 for an unknown path)."""
# An error body worth reading for its code is small; anything larger is not ours.
MAX_ERROR_BODY = 16 * 1024

REQUESTS = Counter("endoscribe_http_requests", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("endoscribe_http_request_duration_seconds",
                    "Time to answer an HTTP request, body included, by method, route template and status",
                    ["method", "route", "status"], buckets=LATENCY_BUCKETS)
REJECTIONS = Counter("endoscribe_http_rejections", "Requests refused (status >= 400), by route, status and error "
                     "code (quota codes such as request_rate_exceeded, or codes such as not_found)",
                     ["route", "status", "code"])


class MetricsDisabled(NotFound):
    code = ErrorCode.METRICS_DISABLED


class RouteTemplates:
    """The declared paths of an app's documented routes (`/v1/jobs/{job_id}`), matched against a request's
    path before any route runs: the guards refuse some requests before the router sees them."""

    def __init__(self) -> None:
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, app: Any, path: str) -> str | None:
        if self._compiled is None:
            self._compiled = _compile(app)
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        return None


def _compile(app: Any) -> list[tuple[re.Pattern[str], str]]:
    # The OpenAPI document lists every documented route with its full path, however routers were
    # included: a stable, public view across FastAPI versions.
    try:
        templates = list(app.openapi().get("paths", {}))
    except Exception:  # a broken schema must not break requests: labels fall back
        log.exception("no OpenAPI document: requests are labelled by the route that answered, if any")
        templates = []
    # Where a literal path and a parameterised one both match, the literal one is the route.
    templates.sort(key=lambda template: template.count("{"))
    return [(compile_path(template)[0], template) for template in templates]


class RequestMetrics:
    """ASGI middleware, outermost: every answer counts, including the guards' refusals before a route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.templates.match(scope["app"], scope["path"])
        method = scope["method"] if scope["method"] in METHODS else "other"
        status = 500  # what the server answers if the app raises before starting a response
        error_body: list[bytes] | None = None
        started = time.perf_counter()

        async def observe(message: Message) -> None:
            nonlocal status, error_body
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", ()))
                if status >= 400 and headers.get(b"content-type", b"").startswith(b"application/json"):
                    error_body = []
            elif message["type"] == "http.response.body" and error_body is not None:
                if sum(map(len, error_body)) < MAX_ERROR_BODY:
                    error_body.append(message.get("body", b""))
            await send(message)

        code = None
        try:
            await self.app(scope, receive, observe)
        except Exception:
            code = ErrorCode.INTERNAL_ERROR  # what the server's last-resort handler answers with
            raise
        finally:
            route = route or _undocumented_route(scope)
            labels = (method, route, str(status))
            REQUESTS.labels(*labels).inc()
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
            if status >= 400:
                REJECTIONS.labels(route, str(status), code or _error_code(error_body, status)).inc()


def _undocumented_route(scope: Scope) -> str:
    """The declared path of the undocumented route that answered (`/docs`, a mount's prefix), else `unmatched`."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def _error_code(chunks: list[bytes] | None, status: int) -> str:
    """The `error.code` of an error body, checked to be a short machine code; `http_<status>` without one."""
    try:
        code = json.loads(b"".join(chunks or []))["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"
    return label_value(code if isinstance(code, str) else None) or f"http_{status}"


def check_scraper(authorization: str | None, settings: MetricsSettings, dev_mode: bool) -> None:
    """Allow a scrape: with a metrics token set, only with that token; without one, only in development."""
    if not settings.token:
        if dev_mode:
            return
        raise MetricsDisabled("metrics are off: set ENDOSCRIBE_METRICS_TOKEN and have Prometheus send it "
                              "as 'Authorization: Bearer <token>'")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), settings.token.encode()):
        raise Unauthorized("send the metrics token as 'Authorization: Bearer <token>'")


router = APIRouter(tags=["system"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, 401: {"description": "missing or wrong token"},
                       404: {"description": "metrics are off (no ENDOSCRIBE_METRICS_TOKEN)"}})
async def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus metrics of this API and of the cluster (queues, jobs, workers, webhooks).

    Needs `ENDOSCRIBE_METRICS_TOKEN` as a bearer token (not an API key: it reads figures, never jobs)."""
    settings = request.app.state.settings
    check_scraper(authorization, settings.metrics, settings.dev_mode)
    # The cluster collector calls Redis: off the event loop.
    body = await run_in_threadpool(generate_latest, request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Count every request and serve `/metrics`; call after the other middleware so this one is outermost."""
    app.add_middleware(RequestMetrics)
    app.include_router(router)
