"""What one live worker at a time does on its heartbeat: recover jobs that fell out of the flow, wake a
worker for unserved live sessions, and sweep object-storage audio that outlived its job."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from core import keys
from core.audio_store import AudioStore
from core.job_store import JobStore
from core.queueing import broker_task_ids
from core.session_store import SessionStore
from core.settings import Settings
from worker.jobs import recovery

log = logging.getLogger(__name__)


class Upkeep:
    def __init__(self, settings: Settings, client: redis.Redis, store: JobStore, audio: AudioStore,
                 worker_name: str, send_job: Callable[[str], None], send_live: Callable[[], None]) -> None:
        self.settings = settings
        self.redis = client
        self.store = store
        self.audio = audio
        self.worker_name = worker_name
        self.send_job = send_job
        self.send_live = send_live

    def sweep(self) -> None:
        """On every heartbeat, in one live worker at a time: recover jobs that fell out of the flow."""
        interval_ms = int(self.settings.worker.sweep_seconds * 1000)
        if not self.redis.set(keys.SWEEP_LEASE, self.worker_name, nx=True, px=interval_ms):
            return
        recovery.sweep(self.store, self.send_job, lambda: broker_task_ids(self.redis),
                       self.settings.worker.max_attempts, self.settings.worker.requeue_grace_seconds)
        self._wake_for_sessions(interval_ms)
        self._sweep_audio()

    def _wake_for_sessions(self, interval_ms: int) -> None:
        """A live session nobody serves (its worker died after the client's last chunk, or every worker
        was past admitting when it came) gets a worker: the task any idle one takes sessions with."""
        if SessionStore(self.redis, 0).unserved(1) and self.redis.set(keys.LIVE_WAKE, "1", nx=True,
                                                                     px=2 * interval_ms):
            log.warning("a live session has no worker; sending the live task")
            self.send_live()

    def _sweep_audio(self) -> None:
        """Now and then, in one worker: delete object-storage audio that outlived its job (a delete
        that failed, a worker that died between ending a job and deleting its audio, an upload cut off)."""
        interval_ms = int(self.settings.storage.sweep_seconds * 1000)
        if not self.redis.set(keys.AUDIO_SWEEP_LEASE, self.worker_name, nx=True, px=interval_ms):
            return
        try:
            if deleted := self.audio.sweep(self.store.is_open):
                log.info("deleted the stored audio of %d jobs that are over", deleted)
        except Exception as exc:  # noqa: BLE001 - the next interval tries again
            log.warning("audio sweep failed (%s)", exc.__class__.__name__)
