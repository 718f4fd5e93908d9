"""Test doubles behind the worker's Protocols, and the in-process runner harness that uses them."""

from __future__ import annotations

import io
import math
import struct
import tempfile
import time
import uuid
import wave
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.audio_store import RedisAudioStore
from core.job_store import JobStore, utcnow
from core.jobs import JobOptions, JobRecord, Transcript
from core.settings import WorkerSettings
from core.webhook_records import WebhookConfig
from worker.context import JobContext
from worker.model.transcriber import DecodeRequest, ModelInfo, ModelOutOfMemory, Window, WindowText


@dataclass
class FakeTranscriber:
    """Speaks the Transcriber protocol without a model, in microseconds.

    Each recording has `steps` speech windows; each batch decodes every window to `text` (or to
    what `reply` makes of the request). `during(n)` runs before the n-th batch (from 0), so a test
    can cancel, steal the lease, pause Redis or sleep past a deadline at a known point of a run.
    `batches` records each batch as (prompt, window seconds) pairs; `oom_above` makes batches larger
    than it raise the accelerator's out-of-memory error.
    """

    text: str = "Sessile polyp in the cecum, 5 mm."
    steps: int = 3
    during: Callable[[int], None] | None = None
    language: str | None = "en"
    batch_size: int = 1
    reply: Callable[[DecodeRequest], str] | None = None
    oom_above: int | None = None
    speech: Callable[[Any], list[Window]] | None = None
    """Where the recording has speech (default: `steps` equal windows covering all of it)."""
    vad_seconds: float = 0.0
    """How long finding the speech of a recording over 30 s takes (a CPU's VAD over minutes of audio)."""
    calls: int = 0
    """Batches decoded (or attempted)."""
    recordings: int = 0
    """Recordings whose speech was looked for: one per job that reached the model."""
    prompts: list[str | None] = field(default_factory=list)
    batches: list[list[tuple[str | None, float]]] = field(default_factory=list)
    lanes: int = 1
    """Batches the scheduler may decode at once (each `decode` from its own thread)."""

    def info(self) -> ModelInfo:
        return ModelInfo("fake-model", "cpu", "int8", self.batch_size, self.language, self.lanes)

    def speech_windows(self, audio: Any, max_seconds: float = 30.0) -> list[Window]:
        self.recordings += 1
        if self.speech is not None:
            return self.speech(audio)
        seconds = audio.size / 16000
        if seconds > 30:
            time.sleep(self.vad_seconds)  # a CPU's VAD over minutes of audio takes time
        return [Window(round(seconds * n / self.steps, 3), round(seconds * (n + 1) / self.steps, 3))
                for n in range(self.steps)]

    def utterance_speech(self, audio: Any) -> list[Window]:
        return self.speech_windows(audio, 1.0)

    def detect_language(self, audio: Any) -> str:
        return "en"

    def batch_key(self, language: str, initial_prompt: str | None, hotwords: str | None,
                  prompt_tokens: int | None = None) -> Hashable:
        # A prompt cut to a token count puts SOT at that count, whatever its words (as in the model).
        return (language, initial_prompt if prompt_tokens is None else prompt_tokens, hotwords)

    def decode(self, batch: Sequence[DecodeRequest]) -> list[WindowText]:
        step = self.calls
        self.calls += 1
        if self.during is not None:
            self.during(step)
        if self.oom_above is not None and len(batch) > self.oom_above:
            raise ModelOutOfMemory("CUDA failed with error out of memory")
        # CTranslate2 refuses a batch whose prompts disagree (the scheduler must never send one).
        assert len({(self.batch_key(r.language, r.initial_prompt, r.hotwords, r.prompt_tokens), r.window_seconds)
                    for r in batch}) == 1, batch
        self.batches.append([(r.initial_prompt, round(r.audio.size / 16000, 3)) for r in batch])
        self.prompts.extend(r.initial_prompt for r in batch)
        return [WindowText(self.reply(r) if self.reply else self.text) for r in batch]

    def align(self, transcript: Transcript, audio: Any) -> Transcript:
        return transcript


def tone_wav(seconds: float = 1.0, hz: float = 440.0) -> bytes:
    """A 16 kHz mono WAV of a sine tone: decodable, not silent."""
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * n / 16000)))
                      for n in range(int(seconds * 16000)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(frames)
    return out.getvalue()


@dataclass
class Harness:
    """A real JobStore on a real redis-server, a fake transcriber, and a JobContext to run jobs with."""

    client: redis.Redis
    models: FakeTranscriber = field(default_factory=FakeTranscriber)
    settings: WorkerSettings = field(default_factory=lambda: WorkerSettings(heartbeat_seconds=1, max_attempts=3))
    wedged: list[bool] = field(default_factory=list)

    @property
    def store(self) -> JobStore:
        return JobStore(self.client, 3600)

    def context(self, worker: str = "test-worker") -> JobContext:
        return JobContext(self.store, self.models, self.settings, worker, Path(tempfile.gettempdir()),
                          on_wedged=lambda: self.wedged.append(True))

    def submit(self, audio: bytes | None = None, callback: bool = True, **options: Any) -> str:
        job_id = str(uuid.uuid4())
        config = WebhookConfig(url="https://ehr.example.org/hook") if callback else None
        RedisAudioStore(self.client).put(job_id, [audio if audio is not None else tone_wav()])
        self.store.create(JobRecord(id=job_id, created_at=utcnow(), options=JobOptions(**options)), config)
        return job_id


def live_harness(client: redis.Redis) -> Harness:
    """A Harness for live sessions: speech wherever the audio is loud, and two words a second of audio
    as the text (a growing utterance gives growing hypotheses)."""
    h = Harness(client)
    h.models.speech = loud_windows
    h.models.reply = lambda r: " ".join(f"w{n}" for n in range(int(r.audio.size / 8000)))
    return h


def loud_windows(audio: Any) -> list[Window]:
    """A toy VAD for live tests: speech wherever 10 ms frames are loud, runs joined across short gaps."""
    import numpy as np

    frames = audio[:audio.size - audio.size % 160].reshape(-1, 160)
    loud = np.abs(frames).max(axis=1) > 0.05 if frames.size else np.array([], bool)
    windows: list[Window] = []
    for n in np.flatnonzero(loud):
        start, end = n / 100, (n + 1) / 100
        if windows and start - windows[-1].end < 0.3:
            windows[-1] = Window(windows[-1].start, end)
        else:
            windows.append(Window(start, end))
    return windows


def tone_pcm(seconds: float, hz: float = 440.0) -> bytes:
    """Raw 16 kHz mono s16le samples of a tone (0 Hz: silence), as a live client streams them."""
    return b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * hz * n / 16000)) if hz else 0)
                    for n in range(int(seconds * 16000)))
