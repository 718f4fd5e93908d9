"""The FastAPI app: `uvicorn api.main:app`. Light: no torch, no whisperx."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from kombu.exceptions import OperationalError as KombuOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api import metrics, session_service, session_tokens
from api.body_limit import BodyLimit
from api.errors import error_response, response_for
from api.guards import QuotaGuard, RequestGuard
from api.job_watcher import JobWatcher
from api.page_headers import PageHeaders
from api.quotas import Quotas
from api.routes import (
    audio,
    dictate,
    documents,
    events,
    jobs,
    openai_audio,
    quality,
    quality_page,
    review_page,
    sessions,
    system,
    templates,
    vocabularies,
)
from api.urls import HostGuard, check_public_url
from core.audio_store import make_audio_store
from core.cluster_metrics import ClusterCollector
from core.document_store import DocumentStore
from core.errors import EndoScribeError, ErrorCode, StorageUnavailable
from core.job_history import JobHistory
from core.job_store import JobStore
from core.logging_setup import protect_uvicorn
from core.metrics_server import scrape_registry
from core.queueing import make_celery
from core.redis_connection import connect_async_redis, connect_redis
from core.redis_safety import check_no_eviction
from core.session_store import SessionStore
from core.settings import Settings, get_settings
from core.webhook_store import WebhookStore

log = logging.getLogger("endoscribe.api")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the request's path answers. RFC 9110 wants them all in a 405's `Allow`, and
    Starlette names only those of the first route that matched the path (one route per method)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE and isinstance(route, APIRoute):
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to `{"error": {"code", "message"}}` once, here."""

    @app.exception_handler(EndoScribeError)
    async def _domain(_: Request, exc: EndoScribeError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(StorageUnavailable)
    async def _storage(_: Request, exc: StorageUnavailable) -> JSONResponse:
        # One line for the operator (the store is out), no traceback: nothing here is the request's fault.
        log.warning("audio store unavailable: %s", exc.__cause__.__class__.__name__)
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, ErrorCode.VALIDATION_ERROR, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        # Starlette's own refusals (no such route, method not allowed): their status names the code.
        return error_response(exc.status_code, f"http_{exc.status_code}", str(exc.detail), headers)

    @app.exception_handler(redis.RedisError)
    @app.exception_handler(KombuOperationalError)
    async def _redis(_: Request, exc: Exception) -> JSONResponse:
        log.error("redis error: %s", exc.__class__.__name__)
        return error_response(503, ErrorCode.UNAVAILABLE, "the job store is unreachable; retry in a moment")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log (it names code, not request data); the client gets the shape
        # every other error has.
        log.error("unhandled error", exc_info=exc)
        return error_response(500, ErrorCode.INTERNAL_ERROR,
                              "the server failed unexpectedly; retry, or tell the operator")


def _index_quota_sets(quotas: Quotas) -> None:
    # Once per Redis: jobs queued by a version without per-key sets count against their key's limit.
    try:
        if added := quotas.store.index_open_jobs():
            log.info("counted %d jobs stored by an earlier version against their keys' limits", added)
    except redis.RedisError as exc:
        log.warning("could not count earlier jobs against their keys yet (%s); the next start retries",
                    exc.__class__.__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; tests pass their own settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Here, not at import: uvicorn configures its loggers (CLI, --log-config) before it loads the app.
        protect_uvicorn()
        if not settings.api_keys and not settings.dev_mode:
            # Closed by default: an image, compose or Fly deployment without keys must not serve
            # patient data to anyone who can reach it. `make up` (loopback) sets ENDOSCRIBE_DEV_MODE.
            raise RuntimeError("ENDOSCRIBE_API_KEYS is empty: set it to a JSON list of bearer tokens, or "
                               "ENDOSCRIBE_DEV_MODE=true on a development machine to run the API open")
        client = connect_redis(settings)
        check_public_url(settings)  # after the connection's own checks: they name the graver mistake
        check_no_eviction(client, settings)  # raises: the API does not start on an evicting Redis
        app.state.settings = settings
        app.state.redis = client
        app.state.store = JobStore(client, settings.retention_seconds, make_audio_store(settings.storage, client))
        app.state.audio = app.state.store.audio
        app.state.webhooks = WebhookStore(client, settings.retention_seconds)
        app.state.documents = DocumentStore(client)
        app.state.quotas = Quotas(settings.quota, client)
        _index_quota_sets(app.state.quotas)
        app.state.celery = make_celery(settings, name="endoscribe-api")
        app.state.metrics_registry = scrape_registry(ClusterCollector(client))
        live = settings.live
        app.state.sessions = SessionStore(client, live.max_session_seconds + live.idle_timeout_seconds,
                                          settings.retention_seconds)
        app.state.session_sweep = session_service.start_session_sweep(app.state.sessions, app.state.store,
                                                                      app.state.audio, live)
        app.state.async_redis = connect_async_redis(settings)
        app.state.token_key = session_tokens.token_key(client, settings.live)
        if not settings.api_keys:
            log.warning("ENDOSCRIBE_API_KEYS is empty: the API is open to anyone who can reach it")
        app.state.watcher = JobWatcher(client, settings.tuning.events_poll_seconds)
        if added := JobHistory(client, settings.retention_seconds).index_stored_jobs():
            log.info("added %d jobs stored before the per-key job list existed to it", added)
        yield
        app.state.session_sweep.cancel()
        await app.state.async_redis.aclose()
        await app.state.watcher.close()
        client.close()

    app = FastAPIOffline(
        title="EndoScribe",
        version="1.0",
        summary="Transcription of clinical dictation on GPUs",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # The last added runs first: the key and the body's size are judged before any quota is counted.
    app.add_middleware(QuotaGuard, settings=settings)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(HostGuard, settings=settings)  # a request for a name we are not is answered nothing else
    app.add_middleware(PageHeaders)  # outside the guards: their refusals get the headers too
    metrics.install(app)  # outermost: it counts the guards' refusals too
    app.include_router(jobs.router)
    app.include_router(audio.router)
    app.include_router(documents.router)
    app.include_router(sessions.router)
    app.include_router(dictate.router)
    app.include_router(events.router)
    app.include_router(openai_audio.router)
    app.include_router(system.router)
    app.include_router(vocabularies.router)
    app.include_router(templates.router)
    app.include_router(quality.router)
    app.include_router(quality_page.router)
    app.include_router(review_page.router)
    return app


app = create_app()
