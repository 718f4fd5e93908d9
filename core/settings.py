"""One settings object for every EndoScribe process, read from the environment once: the top level's own fields
here, its nested groups in `core.work_settings` and `core.service_settings`."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings

from core.service_settings import (
    KEEP_AUDIO_LIMIT_SECONDS,
    MetricsSettings,
    QuotaSettings,
    RedisTlsSettings,
    S3StoreSettings,
    StorageSettings,
    WebhookSettings,
)
from core.tuning import (
    ApiTuning,
)
from core.tuning import group_config as _config
from core.work_settings import Device, LiveSettings, VocabularySettings, WorkerSettings

__all__ = ["KEEP_AUDIO_LIMIT_SECONDS", "Device", "LiveSettings", "MetricsSettings", "QuotaSettings", "RedisTlsSettings",
           "S3StoreSettings", "Settings", "StorageSettings", "VocabularySettings", "WebhookSettings", "WorkerSettings",
           "get_settings"]
"""The groups are declared beside it (`core.work_settings`, `core.service_settings`) and importable from here."""


class Settings(BaseSettings):
    """Everything an EndoScribe process needs; construct your own in tests."""

    model_config = _config("ENDOSCRIBE_")

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "ENDOSCRIBE_REDIS_URL"),
    )
    """Redis for the broker, job records, audio blobs and heartbeats."""
    redis_tls: RedisTlsSettings = Field(default_factory=RedisTlsSettings)
    """How a `rediss://` Redis is verified."""
    dev_mode: bool = False
    """A development machine: allows settings unsafe in production (an API without keys,
    `ENDOSCRIBE_REDIS_TLS_INSECURE`)."""
    api_port: int = 8000
    """Port `make up` serves the API on."""
    flower_port: int = 5555
    """Port `make up` serves Flower on."""
    public_url: str = ""
    """Base URL clients reach the API at; required with `api_keys`. Empty (development only): each request's
    `Host`, once checked against the allowed hosts."""
    api_keys: list[str] = Field(default_factory=list)
    """Bearer tokens allowed to use the API (JSON list); empty disables auth (development only)."""
    template_admin_keys: list[str] = Field(default_factory=list)
    """Keys of `api_keys` (JSON list) that may write the organisation's dictation templates, which every key
    inherits (`POST /v1/templates?scope=organisation`); with auth off, any caller may."""
    max_upload_mb: float = Field(default=500.0, gt=0)
    """Largest audio upload accepted, in MB."""
    retention_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    """How long job records and transcripts are kept after submission."""
    quality_retention_seconds: int = Field(default=2 * 365 * 24 * 3600, ge=3600)
    """How long a key's PHI-free quality records (`GET /v1/quality`) are kept after each job's end: longer
    than the transcripts, so the quality numbers outlive them."""
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    """Transcription worker settings."""
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    """Webhook delivery settings."""
    storage: StorageSettings = Field(default_factory=StorageSettings)
    """Audio storage settings."""
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    """Per-key quotas and global backpressure."""
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """Prometheus metrics: the API's scrape token, the workers' and deliverer's metrics port."""
    transcription_wait_seconds: float = Field(default=300.0, gt=0, le=3600)
    """How long `POST /v1/audio/transcriptions` waits for its job; past it, 504 naming the job to poll."""
    openai_models: list[str] = Field(default_factory=lambda: ["whisper-1", "endoscribe"])
    """Model names `/v1/audio/transcriptions` accepts, each run by the workers' one model; others get 404."""
    max_event_streams_per_key: int = Field(default=10, ge=0)
    """Open `/v1/jobs/{id}/events` streams one key may hold per API process (0: no limit); more get 429."""
    live: LiveSettings = Field(default_factory=LiveSettings)
    """Live dictation sessions: tokens, limits, endpointing."""
    max_body_kb: int = Field(default=1024, ge=1, le=100_000)
    """Largest request body in KB on every route but the uploads (`max_upload_mb` bounds those)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """Host names the API answers besides loopback and `public_url`'s (`*.example.org` allowed): the names a
    proxy in front passes on as `Host`. Any other `Host` gets 400."""
    tuning: ApiTuning = Field(default_factory=ApiTuning)
    """The API's polling: a measured default."""

    @field_validator("public_url")
    @classmethod
    def _public_url_is_a_base(cls, value: str) -> str:
        # Caught at start-up: every URL the API gives out is built on it.
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError("ENDOSCRIBE_PUBLIC_URL must be the http(s) URL clients reach the API at, "
                                 "e.g. https://endoscribe.example.org")
        return value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)

    @property
    def visibility_timeout_seconds(self) -> int:
        # Redis redelivers an unacked task after this; it must exceed the longest job (plus queueing
        # slack for the prefetched message), or a running job is handed to a second worker.
        return self.worker.job_time_limit_seconds * 2 + 300


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
