"""The settings groups of the services around the work: webhooks, Redis TLS, audio storage, quotas, metrics.

Each is a nested group of `core.settings.Settings`, under its own `ENDOSCRIBE_*` prefix."""

from __future__ import annotations

import base64
import binascii

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from core.tuning import (
    StorageTuning,
    WebhookTuning,
)
from core.tuning import group_config as _config

KEEP_AUDIO_LIMIT_SECONDS = 30 * 24 * 3600
"""The most `keep_audio_max_seconds` may be set to (a job's `keep_audio_seconds` is checked against the setting)."""


class WebhookSettings(BaseSettings):
    """How finished jobs are called back (`ENDOSCRIBE_WEBHOOK_*`)."""

    model_config = _config("ENDOSCRIBE_WEBHOOK_")

    secret: str = ""
    """Standard Webhooks signing secret, `whsec_<base64>`; empty means callbacks are refused at submit."""
    allow_private: bool = False
    """Allow loopback/private callback targets (development and tests only)."""
    allow_http: bool = False
    """Allow plain-http callback targets (otherwise https only)."""
    retry_base_seconds: float = Field(default=5.0, gt=0)
    """First retry delay; each next one doubles, with jitter."""
    retry_hours: float = Field(default=24.0, gt=0)
    """Give up retrying this long after the first attempt."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    """Per-attempt timeout (connect + response)."""
    senders: int = Field(default=8, ge=1)
    """Callbacks one deliverer sends at once."""
    senders_per_key: int = Field(default=2, ge=1)
    """Of those, the most one API key's callbacks hold: a slow receiver delays only its own key."""
    dns_timeout_seconds: float = Field(default=5.0, gt=0)
    """How long a callback host name may take to resolve; then the attempt fails and is retried."""
    dns_lookups_per_key: int = Field(default=4, ge=1)
    """Host name lookups one API key may have running, counting those given up on but still hanging."""
    tuning: WebhookTuning = Field(default_factory=WebhookTuning)
    """The deliverer's polling: a measured default."""

    @field_validator("secret")
    @classmethod
    def _secret_is_whsec(cls, value: str) -> str:
        # Caught at start-up of every process, not at the first delivery attempt.
        if value:
            try:
                key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("ENDOSCRIBE_WEBHOOK_SECRET must be whsec_ followed by base64") from None
            if len(key) < 16:
                raise ValueError("ENDOSCRIBE_WEBHOOK_SECRET must hold at least 16 random bytes")
        return value


class RedisTlsSettings(BaseSettings):
    """How a `rediss://` Redis is verified (`ENDOSCRIBE_REDIS_*`); certificate and host name always, by default."""

    model_config = _config("ENDOSCRIBE_REDIS_")

    ca_file: str = ""
    """PEM file of the CA(s) that signed Redis's certificate (a private CA), trusted besides the system store."""
    cert_file: str = ""
    """PEM client certificate for mutual TLS (it may hold the key too); empty sends none."""
    key_file: str = ""
    """PEM private key of `cert_file`, when it is not inside that file."""
    tls_insecure: bool = False
    """Skip certificate and host name checks; refused unless `dev_mode` (anyone on the path reads the password)."""
    allow_eviction: bool = False
    """Start even if Redis may evict keys (any `maxmemory-policy` but `noeviction`), with a loud warning."""


class S3StoreSettings(BaseSettings):
    """The `s3` audio store backend's connection (`ENDOSCRIBE_AUDIO_STORE_S3_*`); credentials are boto3's own."""

    model_config = _config("ENDOSCRIBE_AUDIO_STORE_S3_")

    endpoint_url: str = ""
    """S3 API endpoint (MinIO, Tigris); empty leaves it to boto3 (`AWS_ENDPOINT_URL_S3`, else AWS)."""
    region: str = ""
    """S3 region; empty leaves it to boto3 (`AWS_REGION`)."""


class StorageSettings(BaseSettings):
    """Where uploaded audio waits for its worker, and how long a job may keep it (`ENDOSCRIBE_AUDIO_STORE_*`)."""

    model_config = _config("ENDOSCRIBE_AUDIO_STORE_")

    url: str = ""
    """Which audio store backend keeps the audio, by its URL (the backends are listed below the settings
    tables): empty for Redis."""
    pending_seconds: int = Field(default=3600, ge=60)
    """How long audio may exist without its job (an upload cut off mid-way) before it is removed."""
    sweep_seconds: float = Field(default=600.0, gt=0)
    """How often one worker deletes object-storage audio of jobs that are over (S3 only)."""
    keep_audio_max_seconds: int = Field(default=72 * 3600, ge=0, le=KEEP_AUDIO_LIMIT_SECONDS)
    """Longest a job may keep its audio after it ends for a reviewer to listen to (verification mode,
    `keep_audio_seconds`); 0 turns verification mode off."""
    keep_audio_seconds_by_key: dict[str, int] = Field(default_factory=dict)
    """Verification mode per API key: how long each key's jobs keep their audio after they end when the job
    does not say (`keep_audio_seconds`), by tenant id (the first 32 hex digits of the key's SHA-256;
    `""` without keys). Keys not listed: 0, deleted at the end."""
    s3: S3StoreSettings = Field(default_factory=S3StoreSettings)
    """The `s3` backend's settings."""
    tuning: StorageTuning = Field(default_factory=StorageTuning)
    """Piece and part sizes: measured defaults."""

    @field_validator("url")
    @classmethod
    def _url_names_a_backend(cls, value: str) -> str:
        # Caught at start-up of every process, with the URLs there are, not at the first upload.
        from core.audio_backends import checked_backend  # the registry imports the settings it reads

        checked_backend(value)
        return value

    @model_validator(mode="after")
    def _key_defaults_within_max(self) -> StorageSettings:
        over = {k: v for k, v in self.keep_audio_seconds_by_key.items() if not 0 <= v <= self.keep_audio_max_seconds}
        if over:
            raise ValueError(f"ENDOSCRIBE_AUDIO_STORE_KEEP_AUDIO_SECONDS_BY_KEY holds {len(over)} value(s) outside "
                             f"0..{self.keep_audio_max_seconds} (ENDOSCRIBE_AUDIO_STORE_KEEP_AUDIO_MAX_SECONDS)")
        return self


class QuotaSettings(BaseSettings):
    """What one API key may use, and when the whole system says "not now" (`ENDOSCRIBE_QUOTA_*`).

    Without API keys every caller is one shared anonymous key. A limit of 0 (or an empty rate) is off.
    """

    model_config = _config("ENDOSCRIBE_QUOTA_")

    max_jobs_in_flight: int = Field(default=100, ge=0)
    """Jobs one key may have queued or processing at once; more are refused with 429."""
    max_audio_hours_per_day: float = Field(default=24.0, ge=0)
    """Hours of decoded audio one key may have transcribed per UTC day, charged when each job ends."""
    request_rate: str = "50/second"
    """Requests one key may make to `/v1`, as a moving window in `limits` notation (`;` joins several)."""
    redeliver_rate: str = "1/minute"
    """Callback redeliveries one job may ask for, in `limits` notation."""
    max_queue_depth: int = Field(default=1000, ge=0)
    """Open jobs (queued and processing, every key) above which submissions get 503."""
    max_redis_memory_fraction: float = Field(default=0.8, ge=0, le=1)
    """Share of Redis's `maxmemory` (or of the host's memory, without one) above which submissions get 503."""
    max_redis_memory_mb: float = Field(default=0.0, ge=0)
    """Redis `used_memory` in MB above which submissions get 503, whatever `maxmemory` says."""
    busy_retry_seconds: int = Field(default=30, ge=1)
    """`Retry-After` for refusals that lift as jobs finish (jobs in flight, queue depth, Redis memory)."""
    webhook_attempts_kept: int = Field(default=10, ge=1)
    """A callback keeps its first and its last this-many attempts; those between are counted, not kept."""

    @field_validator("request_rate", "redeliver_rate")
    @classmethod
    def _rate_parses(cls, value: str) -> str:
        # Caught at start-up, not at the first request.
        if value.strip():
            parse_many(value)
        return value


class MetricsSettings(BaseSettings):
    """Who may read the API's `/metrics`, and where workers and the deliverer serve theirs (`ENDOSCRIBE_METRICS_*`)."""

    model_config = _config("ENDOSCRIBE_METRICS_")

    token: str = ""
    """Bearer token Prometheus sends to the API's `GET /metrics`; empty: `/metrics` is off (open in `dev_mode`)."""
    port: int = Field(default=0, ge=0, le=65535)
    """Port a worker or the webhook deliverer serves its own `/metrics` on; 0: none."""
    host: str = "127.0.0.1"
    """Address that port listens on; `0.0.0.0` where Prometheus scrapes over a private network."""
