"""Celery's signals start and stop the worker's runtime (`worker.celery.runtime`).

`worker_init` (the worker process, before its pool starts) builds the runtime and runs the quick
checks; `worker_ready` loads the model and starts the heartbeat (with the solo pool the process
consumes nothing until it returns); `worker_shutdown` stops them. Nothing runs in
`worker_process_init`, whose handlers Celery kills after 4 s: CUDA is not fork-safe, so a prefork
child loads its model on first use instead.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from core import logging_setup
from core.settings import get_settings
from worker.celery.runtime import WorkerRuntime, build_runtime

_runtime: WorkerRuntime | None = None


def current() -> WorkerRuntime:
    """The runtime of this worker process (built when the worker started)."""
    if _runtime is None:
        raise RuntimeError("the worker's runtime is built when a Celery worker starts (worker_init)")
    return _runtime


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _keep_tokens_out_of_logs(logger: logging.Logger, **_: Any) -> None:
    # Celery configures its own logging; the one filter every process uses joins its handlers.
    logging_setup.protect(logger)


@signals.worker_init.connect
def _build_runtime(sender: Any = None, **_: Any) -> None:
    global _runtime
    _runtime = build_runtime(get_settings())
    _runtime.prepare(getattr(sender, "hostname", None), getattr(sender, "pool_cls", ""))


@signals.worker_ready.connect
def _start_runtime(**_: Any) -> None:
    current().start()


@signals.task_revoked.connect
def _cancel_revoked_job(request: Any = None, **_: Any) -> None:
    job_id = getattr(request, "id", None)
    if job_id and _runtime is not None:
        _runtime.cancel_revoked(job_id)


@signals.worker_shutdown.connect
def _stop_runtime(**_: Any) -> None:
    if _runtime is not None:
        _runtime.stop()
