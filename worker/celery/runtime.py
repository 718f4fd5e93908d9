"""The worker's composition root: `build_runtime(settings)` builds what a worker process keeps between
jobs, as `api.main.create_app(settings)` builds the API. Celery's signals (`worker.celery.signals`)
start and stop it; nothing of it exists at import.

The model loads when the worker is ready (solo pool: in the process that runs the tasks) and stays
resident; heartbeats begin only once it is warm, so `/ready` never counts a worker that would make
the first job slow.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from core import keys
from core.audio_store import make_audio_store
from core.errors import EndoScribeError
from core.job_store import JobStore, default_participants
from core.redis_connection import connect_redis
from core.redis_safety import EvictingRedis, check_no_eviction
from core.settings import Settings
from worker import metrics as worker_metrics
from worker.celery.heartbeat import Heartbeat
from worker.celery.upkeep import Upkeep
from worker.context import BatchLimit, JobContext
from worker.leases import LeaseRenewer
from worker.model import decoding
from worker.model.alignment import AlignmentUnavailable
from worker.model.bundled_models import BundledModelUnavailable
from worker.model.device import gpu_diagnostics, log_diagnostics
from worker.model.model_manager import ModelManager
from worker.privacy import telemetry_state
from worker.text import findings_reading

log = logging.getLogger("endoscribe.worker")

# Distinct from Celery's own codes, so an operator reading `docker ps -a` knows why it restarted.
EXIT_WEDGED = 70


def build_runtime(settings: Settings, app: Celery | None = None) -> WorkerRuntime:
    """A worker process's resources, none started yet; `app` sends its tasks (default: the worker's app)."""
    if app is None:
        from worker.celery.app import app
    return WorkerRuntime(settings, app)


class WorkerRuntime:
    """The resources a worker process keeps between jobs."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self.models = ModelManager(settings.worker)
        self.redis = connect_redis(settings)
        # The store's own audio store: every transition deletes the audio where it is (a participant).
        self.store = JobStore(self.redis, settings.retention_seconds, make_audio_store(settings.storage, self.redis),
                              default_participants(settings.quality_retention_seconds))
        self.audio = self.store.audio
        self.leases = LeaseRenewer(self.redis, settings.worker.lease_seconds)
        self.worker_name = "unnamed"
        self.pool_name = ""
        self.heartbeat: Heartbeat | None = None
        self.tmp_dir = Path(tempfile.gettempdir())
        self.jobs_done = 0
        self.batch = BatchLimit()

    def context(self) -> JobContext:
        return JobContext(self.store, self.models, self.settings.worker, self.worker_name, self.tmp_dir,
                          self.exit_wedged, self.batch, self.settings.live, self.leases)

    def prepare(self, worker_name: str | None, pool: Any) -> None:
        """When the worker process starts, before its pool: quick checks and a clean temporary folder."""
        self.worker_name = worker_name or self.worker_name
        worker_metrics.serve(self.settings.metrics)  # before the model loads, so a slow load can be watched
        try:
            check_no_eviction(self.redis, self.settings)
        except EvictingRedis as exc:
            log.critical("%s", exc)
            raise SystemExit(1) from exc
        base = Path(self.settings.worker.tmp_dir or tempfile.gettempdir())
        # Leftover audio of a previous life of this worker (killed mid-decode) is removed here.
        self.tmp_dir = decoding.prepare_tmp_dir(base, self.worker_name)
        # Before the bootsteps run, pool_cls is still the CLI's alias ("solo"); later it is the class.
        self.pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")

    def start(self) -> None:
        """When the worker is ready: load the model (solo pool), then begin heartbeats."""
        if "solo" in self.pool_name:
            self._load_model()
        else:
            # CUDA is not fork-safe: in a prefork pool each child loads the model on its first job.
            log.warning("pool %s is not solo: the model loads lazily in each child on its first job", self.pool_name)
        try:
            if added := self.store.index_open_jobs():
                log.info("indexed %d jobs stored by an earlier version for recovery", added)
        except redis.RedisError as exc:
            log.warning("could not index earlier jobs yet (%s); the next worker start retries", exc.__class__.__name__)
        upkeep = Upkeep(self.settings, self.redis, self.store, self.audio, self.worker_name, self.send_job,
                        self.wake_live)
        self.heartbeat = Heartbeat(self.redis, self.worker_name, self.settings.worker.heartbeat_seconds,
                                   self.describe, on_beat=upkeep.sweep)
        self.heartbeat.start()
        log.info("worker %s ready: model resident, heartbeat every %.0fs", self.worker_name,
                 self.settings.worker.heartbeat_seconds)

    def stop(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.models.unload()

    def cancel_revoked(self, job_id: str) -> None:
        """Revoking a task (Flower, `celery control revoke`) means "don't run this job": the job is
        cancelled, with its callback, rather than left queued for ever under a task id that stays revoked."""
        try:
            self.store.cancel(job_id)
            log.info("job %s: its task was revoked; cancelled", job_id)
        except EndoScribeError:
            pass  # erased meanwhile
        except redis.RedisError as exc:
            log.warning("job %s: revoked, but cancelling it failed (%s)", job_id, exc.__class__.__name__)

    def send_job(self, job_id: str) -> None:
        # The task id is the job id, so operators find a job in Flower by the id clients report.
        self.app.send_task(keys.TRANSCRIBE_TASK, args=[job_id], queue=keys.TRANSCRIBE_QUEUE, task_id=job_id)

    def wake_live(self) -> None:
        """Live sessions need a worker (a round handed them back at its time limit, or nobody serves
        one): the live task gets them this one once its round ends, or any idle one."""
        self.app.send_task(keys.LIVE_TASK, queue=keys.TRANSCRIBE_QUEUE)

    def describe(self) -> dict[str, Any]:
        runtime = self.models.runtime
        info = gpu_diagnostics(runtime) if runtime else {}
        return {
            **info,
            "model": self.models.model_name,
            "compute_type": runtime.compute_type if runtime else None,
            "batch_size": runtime.batch_size if runtime else None,
            "effective_batch_size": self.batch.size or (runtime.batch_size if runtime else None),
            "oom_halvings": self.batch.oom_halvings,
            "jobs_done": self.jobs_done,
            "telemetry": telemetry_state(),
        }

    def exit_wedged(self) -> None:
        """A job is stuck inside the model past its hard deadline (already failed `job_timeout`): the only
        way out of an uninterruptible call is a new process. Stop counting as alive, then exit, so the
        supervisor (compose's restart policy, `make up`) starts a fresh worker."""
        log.critical("a job is stuck in the model past its hard deadline; exiting so this worker is restarted")
        try:
            if self.heartbeat is not None:
                self.heartbeat.stop()
        except redis.RedisError:
            pass  # the heartbeat key expires by itself within 3 beats
        finally:
            logging.shutdown()
            os._exit(EXIT_WEDGED)

    def _load_model(self) -> None:
        # With the solo pool this is the process that runs the tasks, and it consumes nothing until the
        # worker_ready handler returns, so no job can beat the warm-up.
        try:
            self.models.load()
        except BundledModelUnavailable as exc:
            log.critical("%s", exc)
            raise SystemExit(1) from exc
        assert self.models.runtime is not None
        log_diagnostics(gpu_diagnostics(self.models.runtime), self.settings.worker.device)
        if self.settings.worker.align:
            try:
                self.models.alignment.prepare()
            except AlignmentUnavailable as exc:
                log.critical("%s", exc)
                # SystemExit passes through Celery's signal dispatch: the worker stops before consuming.
                raise SystemExit(1) from exc
        if self.settings.worker.tuning.warmup:
            self.models.warm_up()
            # spaCy's import and rule pipeline take seconds: with the warm-up, paid here rather than by
            # the first job with findings (without it, as every first use, by that job).
            findings_reading.warm_up()
