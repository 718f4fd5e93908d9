"""What a worker process brings to every round: its stores, its model, its settings and its leases.

Below the jobs and live rooms, which both work with it; built by the transport's runtime
(`worker.celery.runtime`), or by a test around a fake transcriber.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.audio_store import AudioStore
from core.job_store import JobStore
from core.settings import LiveSettings, WorkerSettings
from worker.leases import LeaseRenewer
from worker.model.transcriber import Transcriber


@dataclass
class BatchLimit:
    """The batch size this process uses now: the configured one until the accelerator runs out of
    memory, then halved (down to 1) for the rest of the process's life."""

    size: int = 0
    oom_halvings: int = 0


@dataclass
class JobContext:
    """What a worker process brings to every job."""

    store: JobStore
    models: Transcriber
    settings: WorkerSettings
    worker_name: str
    tmp_dir: Path
    on_wedged: Callable[[], None]
    """Called when a job is still inside the model past its hard deadline: the process must be replaced."""
    batch: BatchLimit = field(default_factory=BatchLimit)
    live: LiveSettings = field(default_factory=LiveSettings)
    """Live sessions: endpointing, limits."""
    lease_renewer: LeaseRenewer | None = None
    """The process's one lease renewer; None: one made for this context on first use."""

    @property
    def audio(self) -> AudioStore:
        """Where jobs' audio is: the job store's own (it deletes the audio with every ending)."""
        return self.store.audio

    @property
    def leases(self) -> LeaseRenewer:
        if self.lease_renewer is None:
            self.lease_renewer = LeaseRenewer(self.store.redis, self.settings.lease_seconds)
        return self.lease_renewer
