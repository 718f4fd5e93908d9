"""Test doubles behind the worker's Protocols, and the in-process runner harness that uses them."""

from __future__ import annotations

import io
import math
import struct
import tempfile
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from core.job_store import JobStore, utcnow
from core.jobs import JobOptions, JobRecord, Segment, Transcript
from core.settings import WorkerSettings
from core.webhook_store import WebhookConfig
from worker.job_runner import JobContext
from worker.transcriber import ModelInfo


@dataclass
class FakeTranscriber:
    """Speaks the Transcriber protocol without a model, in microseconds.

    It reports `steps` progress points; `during(step)` runs before each one, so a test can cancel,
    steal the lease, pause Redis or sleep past a deadline at a known point of the run.
    """

    text: str = "Sessile polyp in the cecum, 5 mm."
    steps: int = 3
    during: Callable[[int], None] | None = None
    language: str | None = "en"
    calls: int = 0
    prompts: list[str | None] = field(default_factory=list)

    def info(self) -> ModelInfo:
        return ModelInfo("fake-model", "cpu", "int8", 4, self.language)

    def transcribe(self, audio: Any, *, language: str | None, initial_prompt: str | None, hotwords: str | None,
                   progress_callback: Callable[[float], None]) -> Transcript:
        self.calls += 1
        self.prompts.append(initial_prompt)
        for step in range(self.steps):
            if self.during is not None:
                self.during(step)
            progress_callback((step + 1) / self.steps * 100)
        seconds = round(audio.size / 16000, 3)
        return Transcript(text=self.text, language=language or "en", duration=seconds,
                          segments=[Segment(start=0.0, end=seconds, text=self.text)])

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
        self.store.create(JobRecord(id=job_id, created_at=utcnow(), options=JobOptions(**options)),
                          audio if audio is not None else tone_wav(), config)
        return job_id
