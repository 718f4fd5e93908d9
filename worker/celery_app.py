"""The worker's Celery app: `celery -A worker.celery_app worker -P solo`.

The model loads when the worker starts (solo pool: in the process that runs the tasks) and stays
resident; heartbeats begin only once it is warm, so `/ready` never counts a worker that would make
the first job slow.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import signals

from core import keys
from core.job_store import JobStore
from core.queueing import make_celery
from core.settings import get_settings
from core.webhook_store import WebhookStore
from worker.device import gpu_diagnostics, log_diagnostics
from worker.heartbeat import Heartbeat
from worker.job_runner import JobContext
from worker.model_manager import AlignmentUnavailable, ModelManager
from worker.privacy import telemetry_state

log = logging.getLogger("endoscribe.worker")

settings = get_settings()
app = make_celery(settings, name="endoscribe-worker")
app.conf.include = ["worker.tasks"]


class WorkerState:
    """The resources a worker process keeps between jobs."""

    def __init__(self) -> None:
        self.models = ModelManager(settings.worker)
        self.redis = redis.Redis.from_url(settings.redis_url)
        self.store = JobStore(self.redis, settings.retention_seconds)
        self.webhooks = WebhookStore(self.redis, settings.retention_seconds)
        self.worker_name = "unnamed"
        self.pool_name = ""
        self.heartbeat: Heartbeat | None = None
        self.jobs_done = 0

    def context(self) -> JobContext:
        return JobContext(self.store, self.models, settings.worker, self.worker_name, self.webhooks)

    def rescue_orphans(self) -> None:
        """On every heartbeat: requeue jobs whose worker died (their lease lapsed)."""
        for orphan in self.store.requeue_orphans():
            log.warning("job %s lost its worker mid-job; requeued", orphan)
            app.send_task(keys.TRANSCRIBE_TASK, args=[orphan], queue=keys.TRANSCRIBE_QUEUE, task_id=orphan)
            self.store.forget_orphan(orphan)

    def describe(self) -> dict[str, Any]:
        runtime = self.models.runtime
        info = gpu_diagnostics(runtime) if runtime else {}
        return {
            **info,
            "model": self.models.model_name,
            "compute_type": runtime.compute_type if runtime else None,
            "batch_size": runtime.batch_size if runtime else None,
            "jobs_done": self.jobs_done,
            "telemetry": telemetry_state(),
        }


state = WorkerState()


@signals.worker_init.connect
def _remember_worker(sender: Any = None, **_: Any) -> None:
    state.worker_name = getattr(sender, "hostname", None) or state.worker_name
    pool = getattr(sender, "pool_cls", "")
    # Before the bootsteps run, pool_cls is still the CLI's alias ("solo"); later it is the class.
    state.pool_name = pool if isinstance(pool, str) else getattr(pool, "__module__", "")


@signals.worker_ready.connect
def _load_model_and_start_heartbeat(sender: Any = None, **_: Any) -> None:
    # Runs after logging is configured. With the solo pool this is the process that runs the tasks,
    # and it consumes nothing until this returns, so no job can beat the warm-up.
    if "solo" in state.pool_name:
        state.models.load()
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
    state.heartbeat = Heartbeat(state.redis, state.worker_name, settings.worker.heartbeat_seconds, state.describe,
                                on_beat=state.rescue_orphans)
    state.heartbeat.start()
    log.info("worker %s ready: model resident, heartbeat every %.0fs", state.worker_name,
             settings.worker.heartbeat_seconds)


@signals.worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if state.heartbeat is not None:
        state.heartbeat.stop()
    state.models.unload()
