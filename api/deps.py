"""FastAPI dependencies, as `Annotated` aliases; the resources themselves are made in the lifespan."""

from __future__ import annotations

from typing import Annotated

import redis
from celery import Celery
from fastapi import Depends, Request

from api.guards import tenant_for
from api.job_api import JobService
from api.job_watcher import JobWatcher
from api.quotas import Quotas
from api.session_api import SessionService
from api.urls import base_url
from core.audio_store import AudioStore
from core.document_store import DocumentStore
from core.job_store import JobStore
from core.session_store import SessionStore
from core.settings import Settings
from core.vocabulary_store import VocabularyStore
from core.webhook_store import WebhookStore


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store
    return store


def _audio(request: Request) -> AudioStore:
    audio: AudioStore = request.app.state.audio
    return audio


def _webhooks(request: Request) -> WebhookStore:
    webhooks: WebhookStore = request.app.state.webhooks
    return webhooks


def _documents(request: Request) -> DocumentStore:
    documents: DocumentStore = request.app.state.documents
    return documents


def _redis(request: Request) -> redis.Redis:
    client: redis.Redis = request.app.state.redis
    return client


def _celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


def _quotas(request: Request) -> Quotas:
    quotas: Quotas = request.app.state.quotas
    return quotas


def _watcher(request: Request) -> JobWatcher:
    watcher: JobWatcher = request.app.state.watcher
    return watcher


def _vocabularies(client: Annotated[redis.Redis, Depends(_redis)],
                  settings: Annotated[Settings, Depends(_settings)]) -> VocabularyStore:
    return VocabularyStore.for_settings(client, settings)


def _tenant(request: Request, settings: Annotated[Settings, Depends(_settings)]) -> str:
    """The caller's tenant: a digest of its API key, so one key never sees another's jobs."""
    return tenant_for(request.headers.get("authorization"), settings.api_keys)


SettingsDep = Annotated[Settings, Depends(_settings)]
JobStoreDep = Annotated[JobStore, Depends(_store)]
AudioStoreDep = Annotated[AudioStore, Depends(_audio)]
WebhookStoreDep = Annotated[WebhookStore, Depends(_webhooks)]
DocumentStoreDep = Annotated[DocumentStore, Depends(_documents)]
RedisDep = Annotated[redis.Redis, Depends(_redis)]
CeleryDep = Annotated[Celery, Depends(_celery)]
TenantDep = Annotated[str, Depends(_tenant)]
QuotasDep = Annotated[Quotas, Depends(_quotas)]
JobWatcherDep = Annotated[JobWatcher, Depends(_watcher)]
VocabulariesDep = Annotated[VocabularyStore, Depends(_vocabularies)]


def _jobs(request: Request, settings: SettingsDep, store: JobStoreDep, audio: AudioStoreDep, webhooks: WebhookStoreDep,
          celery: CeleryDep, quotas: QuotasDep, vocabularies: VocabulariesDep, tenant: TenantDep) -> JobService:
    return JobService(settings, store, audio, webhooks, celery, quotas, vocabularies, tenant,
                      base_url(request, settings))


JobServiceDep = Annotated[JobService, Depends(_jobs)]
"""The job routes' one dependency (the caller's key is checked on the way)."""


def _session_store(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


def _session_service(request: Request, settings: SettingsDep, celery: CeleryDep, quotas: QuotasDep,
                     vocabularies: VocabulariesDep, tenant: TenantDep) -> SessionService:
    return SessionService(settings, _session_store(request), celery, quotas, vocabularies, request.app.state.token_key,
                          tenant, base_url(request, settings))


SessionServiceDep = Annotated[SessionService, Depends(_session_service)]
"""The session routes' one dependency where the caller uses its API key (the caller's key is checked on the way);
the stream and events routes take a session token instead."""
