"""The tuning groups of `core.settings`, and how every settings group reads the environment.

Tuning knobs tune an algorithm rather than configure a deployment: their defaults were measured
(docs: benchmarks/), and an operator changes one only with a measurement of their own. Each area's
knobs are a group of their own, `tuning` beside the area's operator settings, under the area's
prefix with `TUNING_` after `ENDOSCRIBE_` (`ENDOSCRIBE_LIVE_LAG_SECONDS` became
`ENDOSCRIBE_TUNING_LIVE_LAG_SECONDS`). The name a knob had before is still read, below the new one.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


def group_config(env_prefix: str) -> SettingsConfigDict:
    # Field docstrings become field descriptions: the settings reference in docs/ is generated from them.
    # `forbid` refuses a keyword no field has (the environment only ever fills known fields): a knob
    # passed to the group it moved out of (`LiveSettings(lag_seconds=1)`) fails instead of being dropped.
    return SettingsConfigDict(env_prefix=env_prefix, extra="forbid", use_attribute_docstrings=True)


class RenamedSettings(BaseSettings):
    """A settings group whose prefix changed: each field is read under `env_prefix`, then under
    `old_env_prefix` (the name it had before), so a deployment's environment keeps working."""

    old_env_prefix: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: a new name set beside its old one is the one read.
        old = EnvSettingsSource(settings_cls, env_prefix=cls.old_env_prefix)
        return init_settings, env_settings, old, dotenv_settings, file_secret_settings

    @classmethod
    def old_env_name(cls, field: str) -> str:
        """The environment variable `field` was read from before its group's prefix changed."""
        return f"{cls.old_env_prefix}{field}".upper()


class TuningSettings(RenamedSettings):
    """A group of tuning knobs: measured defaults, listed apart from the operator settings in the reference."""


class LiveTuning(TuningSettings):
    """Endpointing and decoding of live sessions (`ENDOSCRIBE_TUNING_LIVE_*`; docs: design/live-endpointing.md)."""

    model_config = group_config("ENDOSCRIBE_TUNING_LIVE_")
    old_env_prefix = "ENDOSCRIBE_LIVE_"

    partial_seconds: float = Field(default=1.0, gt=0)
    """New audio after which the utterance in progress is decoded again for a partial."""
    endpoint_short_utterance_seconds: float = Field(default=3.0, ge=0)
    """Speech an utterance needs before the usual pause (`endpoint_silence_seconds`) ends it; 0: none."""
    endpoint_short_silence_seconds: float = Field(default=1.0, gt=0)
    """The pause that ends an utterance with less than `endpoint_short_utterance_seconds` of speech: a
    word or two alone decode badly ("Commo." for the command "comma", "Procedure." then "colonoscopy,
    indication."), so they join the words after them unless the talker stops. A client that sends no
    audio at all for this long has stopped too (push to talk): its utterance in progress ends."""
    endpoint_min_silence_seconds: float = Field(default=0.15, gt=0)
    """The pause that ends an utterance once it has 8 s of speech: a breath, so a fluent talker's
    utterance ends before it grows slow to decode, and its final does not wait for the 20 s limit."""
    endpoint_check_seconds: float = Field(default=0.3, gt=0)
    """New audio after which a worker looks (VAD over the audio since the last look) for the pause that
    ends the utterance: a final waits for at most this much more audio than its pause."""
    endpoint_silence_seconds: float = Field(default=0.3, gt=0)
    """A pause that ends an utterance (its `final`): short, since a final only fixes text already shown
    as partial, and the session's job transcribes the whole audio again."""
    max_utterance_seconds: float = Field(default=20.0, gt=1, le=30)
    """An utterance this long is made final at its last pause even without that silence (the model takes 30 s)."""
    lag_seconds: float = Field(default=5.0, gt=0)
    """Audio waiting for the model past which the client is sent a `lagging` event."""
    file_window_every_seconds: float = Field(default=10.0, ge=0)
    """Where a batch costs in proportion to its size (a CPU): while a served session is mid-utterance,
    file jobs get one window per this many seconds (a window takes seconds there, and a final would
    wait behind it), and all the time between utterances. 0: no holding back."""
    prompt_tokens: int = Field(default=176, ge=1, le=223)
    """A live unit's prompt (the previous final's tail, then the vocabulary) cut to this many tokens:
    units whose prompts are as long share a batch (CTranslate2 needs SOT at one position). The built-in
    vocabularies' prompts are 147-188 tokens; 176 keeps most of one after a previous final's ~35."""


class WorkerTuning(TuningSettings):
    """How a worker batches and decodes (`ENDOSCRIBE_TUNING_WORKER_*`; docs: design/scheduler.md)."""

    model_config = group_config("ENDOSCRIBE_TUNING_WORKER_")
    old_env_prefix = "ENDOSCRIBE_"

    compute_type: str = ""
    """CTranslate2 compute type; empty picks float16 on CUDA and int8 elsewhere."""
    batch_size: int = Field(default=0, ge=0, le=256)
    """Segments decoded per batch; 0 picks 16 on CUDA and 4 on CPU."""
    decode_lanes: int = Field(default=0, ge=0, le=16)
    """Batches the model decodes at once, each on its share of `cpu_threads`; 0 picks 1 on CUDA and one
    per CPU thread on a CPU, where Whisper's small decode steps run faster on one thread each (tiny.en, a
    live utterance: 0.20 s on one thread against 0.35 s on two) and two lanes let a live final start
    while a file window or a partial still decodes."""
    warmup: bool = True
    """Transcribe a bundled clip before consuming jobs, so the first job is not the slow one."""
    scheduler_max_jobs: int = Field(default=32, ge=1, le=1024)
    """Jobs one worker holds open at once to fill its batches (the high-priority lane may use twice as many)."""
    scheduler_high_alone: bool | None = None
    """A batch the high-priority lane leads takes no normal windows; empty: only on a CPU (where a batch costs in
    proportion to its size, so normal work beside a live utterance only delays it)."""
    scheduler_max_windows: int = Field(default=64, ge=1, le=100_000)
    """Speech windows (up to 30 s each) admitted but not yet decoded, past which normal jobs wait in the queue:
    bounds the decoded audio a worker holds (64 windows: about 32 minutes, 120 MB of samples)."""


class VocabularyTuning(TuningSettings):
    """How vocabularies reach the decoder and correct its text (`ENDOSCRIBE_TUNING_VOCABULARY_*`; docs:
    design/vocabulary-measurements.md)."""

    model_config = group_config("ENDOSCRIBE_TUNING_VOCABULARY_")
    old_env_prefix = "ENDOSCRIBE_VOCABULARY_"

    apply_as: Literal["prompt", "hotwords", "both"] = "prompt"
    """How terms reach Whisper: as the initial prompt, as faster-whisper hotwords, or as both."""
    prompt_words: int = Field(default=60, ge=0, le=150)
    """Words of prompt (client prompt, hotwords and vocabulary together) a job decodes with, at most."""
    truncation_guard: bool = True
    """Decode a speech window again without the prompt when its text is far shorter than its speech."""
    lexicon: bool = True
    """Map near-misses of vocabulary terms to the terms after decoding (a conservative correction pass)."""


class WebhookTuning(TuningSettings):
    """How often the webhook deliverer looks for work (`ENDOSCRIBE_TUNING_WEBHOOK_*`)."""

    model_config = group_config("ENDOSCRIBE_TUNING_WEBHOOK_")
    old_env_prefix = "ENDOSCRIBE_WEBHOOK_"

    poll_seconds: float = Field(default=1.0, gt=0)
    """How often the deliverer looks for due deliveries."""


class StorageTuning(TuningSettings):
    """The sizes audio is stored in (`ENDOSCRIBE_TUNING_AUDIO_STORE_*`; docs:
    benchmarks/2026-11-26-upload-memory.md)."""

    model_config = group_config("ENDOSCRIBE_TUNING_AUDIO_STORE_")
    old_env_prefix = "ENDOSCRIBE_AUDIO_STORE_"

    piece_mb: float = Field(default=4.0, gt=0, le=8)
    """Size of each Redis piece in MiB: below every hosted Redis's request limit (Upstash: 10 MB)."""
    part_mb: float = Field(default=5.0, ge=5, le=64)
    """Size of each S3 multipart part in MiB (S3 needs at least 5); one part is held per upload."""


class ApiTuning(TuningSettings):
    """How often an API process reads the jobs it follows (`ENDOSCRIBE_TUNING_*`)."""

    model_config = group_config("ENDOSCRIBE_TUNING_")
    old_env_prefix = "ENDOSCRIBE_"

    events_poll_seconds: float = Field(default=0.5, gt=0, le=10)
    """How often each API process reads, in one round trip, the jobs its event streams and waits follow."""
