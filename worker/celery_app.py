"""The worker's Celery app: `celery -A worker.celery_app worker -P solo`.

The model loads when the worker starts (solo pool: in the process that runs the tasks) and stays
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
from celery import signals

from core import keys, logging_setup
from core.audio_store import discard, make_audio_store
from core.errors import EndoScribeError
from core.job_store import JobStore
from core.queueing import broker_task_ids, make_celery
from core.redis_connection import connect_redis
from core.redis_safety import EvictingRedis, check_no_eviction
from core.session_store import SessionStore
from core.settings import get_settings
from worker import metrics as worker_metrics
from worker.celery.heartbeat import Heartbeat
from worker.context import BatchLimit, JobContext
from worker.jobs import recovery
from worker.model import decoding
from worker.model.bundled_models import BundledModelUnavailable
from worker.model.device import gpu_diagnostics, log_diagnostics
from worker.model.model_manager import AlignmentUnavailable, ModelManager
from worker.privacy import telemetry_state

log = logging.getLogger("endoscribe.worker")

# Distinct from Celery's own codes, so an operator reading `docker ps -a` knows why it restarted.
EXIT_WEDGED = 70

settings = get_settings()
app = make_celery(settings, name="endoscribe-worker")
app.conf.include = ["worker.celery.tasks"]


class WorkerState:
    """The resources a worker process keeps between jobs."""

    def __init__(self) -> None:
        self.models = ModelManager(settings.worker)
        self.redis = connect_redis(settings)
        self.store = JobStore(self.redis, settings.retention_seconds)
        self.audio = make_audio_store(settings.storage, self.redis)
        self.worker_name = "unnamed"
        self.pool_name = ""
        self.heartbeat: Heartbeat | None = None
        self.tmp_dir = Path(tempfile.gettempdir())
        self.jobs_done = 0
        self.batch = BatchLimit()

    def context(self) -> JobContext:
        return JobContext(self.store, self.models, settings.worker, self.worker_name, self.tmp_dir, exit_wedged,
                          self.audio, self.batch, settings.live)

    def sweep(self) -> None:
        """On every heartbeat, in one live worker at a time: recover jobs that fell out of the flow."""
        interval_ms = int(settings.worker.sweep_seconds * 1000)
        if not self.redis.set(keys.SWEEP_LOCK, self.worker_name, nx=True, px=interval_ms):
            return
        report = recovery.sweep(self.store, send_job, lambda: broker_task_ids(self.redis),
                                settings.worker.max_attempts, settings.worker.requeue_grace_seconds)
        for job_id in report.ended:
            discard(self.audio, job_id)
        self.wake_for_sessions(interval_ms)
        self.sweep_audio()

    def wake_for_sessions(self, interval_ms: int) -> None:
        """A live session nobody serves (its worker died after the client's last chunk, or every worker
        was past admitting when it came) gets a worker: the task any idle one takes sessions with."""
        if SessionStore(self.redis, 0).unserved(1) and self.redis.set(keys.LIVE_WAKE, "1", nx=True,
                                                                     px=2 * interval_ms):
            log.warning("a live session has no worker; sending the live task")
            app.send_task(keys.LIVE_TASK, queue=keys.TRANSCRIBE_QUEUE)

    def sweep_audio(self) -> None:
        """Now and then, in one worker: delete object-storage audio that outlived its job (a delete
        that failed, a worker that died between ending a job and deleting its audio, an upload cut off)."""
        if self.audio.deleted_with_job:
            return
        interval_ms = int(settings.storage.sweep_seconds * 1000)
        if not self.redis.set(keys.AUDIO_SWEEP_LOCK, self.worker_name, nx=True, px=interval_ms):
            return
        try:
            if deleted := self.audio.sweep(self.store.is_open):
                log.info("deleted the stored audio of %d jobs that are over", deleted)
        except Exception as exc:  # noqa: BLE001 - the next interval tries again
            log.warning("audio sweep failed (%s)", exc.__class__.__name__)

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


def send_job(job_id: str) -> None:
    # The task id is the job id, so operators find a job in Flower by the id clients report.
    app.send_task(keys.TRANSCRIBE_TASK, args=[job_id], queue=keys.TRANSCRIBE_QUEUE, task_id=job_id)


def exit_wedged() -> None:
    """A job is stuck inside the model past its hard deadline (already failed `job_timeout`): the only
    way out of an uninterruptible call is a new process. Stop counting as alive, then exit, so the
    supervisor (compose's restart policy, `make up`) starts a fresh worker."""
    log.critical("a job is stuck in the model past its hard deadline; exiting so this worker is restarted")
    try:
        if state.heartbeat is not None:
            state.heartbeat.stop()
    except redis.RedisError:
        pass  # the heartbeat key expires by itself within 3 beats
    finally:
        logging.shutdown()
        os._exit(EXIT_WEDGED)


state = WorkerState()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _keep_tokens_out_of_logs(logger: logging.Logger, **_: Any) -> None:
    # Celery configures its own logging; the one filter every process uses joins its handlers.
    logging_setup.protect(logger)


@signals.worker_init.connect
def _remember_worker(sender: Any = None, **_: Any) -> None:
    state.worker_name = getattr(sender, "hostname", None) or state.worker_name
    worker_metrics.serve(settings.metrics)  # before the model loads, so a slow load can be watched
    try:
        check_no_eviction(state.redis, settings)
    except EvictingRedis as exc:
        log.critical("%s", exc)
        raise SystemExit(1) from exc
    base = Path(settings.worker.tmp_dir or tempfile.gettempdir())
    # Leftover audio of a previous life of this worker (killed mid-decode) is removed here.
    state.tmp_dir = decoding.prepare_tmp_dir(base, state.worker_name)
    pool = getattr(sender, "pool_cls", "")
    # Before the bootsteps run, pool_cls is still the CLI's alias ("solo"); later it is the class.
    state.pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")


@signals.worker_ready.connect
def _load_model_and_start_heartbeat(sender: Any = None, **_: Any) -> None:
    # Runs after logging is configured. With the solo pool this is the process that runs the tasks,
    # and it consumes nothing until this returns, so no job can beat the warm-up.
    if "solo" in state.pool_name:
        try:
            state.models.load()
        except BundledModelUnavailable as exc:
            log.critical("%s", exc)
            raise SystemExit(1) from exc
        assert state.models.runtime is not None
        log_diagnostics(gpu_diagnostics(state.models.runtime), settings.worker.device)
        if settings.worker.align:
            try:
                state.models.prepare_alignment()
            except AlignmentUnavailable as exc:
                log.critical("%s", exc)
                # SystemExit passes through Celery's signal dispatch: the worker stops before consuming.
                raise SystemExit(1) from exc
        if settings.worker.warmup:
            state.models.warm_up()
    else:
        # CUDA is not fork-safe: in a prefork pool each child loads the model on its first job.
        log.warning("pool %s is not solo: the model loads lazily in each child on its first job", state.pool_name)
    try:
        if added := state.store.index_open_jobs():
            log.info("indexed %d jobs stored by an earlier version for recovery", added)
    except redis.RedisError as exc:
        log.warning("could not index earlier jobs yet (%s); the next worker start retries", exc.__class__.__name__)
    state.heartbeat = Heartbeat(state.redis, state.worker_name, settings.worker.heartbeat_seconds, state.describe,
                                on_beat=state.sweep)
    state.heartbeat.start()
    log.info("worker %s ready: model resident, heartbeat every %.0fs", state.worker_name,
             settings.worker.heartbeat_seconds)


@signals.task_revoked.connect
def _cancel_revoked_job(request: Any = None, **_: Any) -> None:
    # Revoking a task (Flower, `celery control revoke`) means "don't run this job": the job is
    # cancelled, with its callback, rather than left queued for ever under a task id that stays revoked.
    job_id = getattr(request, "id", None)
    if job_id:
        try:
            state.store.cancel(job_id)
            log.info("job %s: its task was revoked; cancelled", job_id)
        except EndoScribeError:
            pass  # erased meanwhile
        except redis.RedisError as exc:
            log.warning("job %s: revoked, but cancelling it failed (%s)", job_id, exc.__class__.__name__)


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if state.heartbeat is not None:
        state.heartbeat.stop()
    state.models.unload()
