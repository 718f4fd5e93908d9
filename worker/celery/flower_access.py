"""Who may do what in Flower: applied by its configuration file, `worker/flowerconfig.py`.

Three doors are closed here, in this one place:

- **`/metrics` behind the login.** Flower serves it without one on purpose since mher/flower#1129
  (so Prometheus scrapes without credentials); mher/flower#1342 asked for the login back when auth
  is on and was closed without it. Its text names every worker host and task type and counts their
  work, so it gets the check every other Flower page has (401 without the basic-auth login; a
  Prometheus scrape sends it with `basic_auth` in its `scrape_config`).
- **Read-only unless asked.** `read_only` makes Flower refuse (403) revoking and terminating
  tasks, shutting down, restarting or resizing workers, and applying or sending tasks, in its UI and
  API, whoever is logged in. `FLOWER_READ_ONLY=false` gives them back to operators who need them.
- **A revoked task ends its job.** When Flower's revoke (or terminate) succeeds, the job is
  cancelled the way `DELETE /v1/jobs/{id}` does it (the task id is the job id): a queued job ends
  `cancelled` at once, and a running one at its runner's next cancel check. Terminating alone does
  not do it: the solo pool runs a task inside the worker's message loop, so the worker reads the
  terminate only after the task has finished, and Celery's solo pool cannot kill a task anyway.
  (A revoke sent around Flower, with `celery control revoke`, reaches the worker's `task_revoked`
  handler in `worker/celery/signals.py`, which cancels a job whose task is revoked before it runs.)
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import redis
from flower.api.control import TaskRevoke
from flower.utils import strtobool
from flower.views.monitor import Metrics
from tornado import web
from tornado.ioloop import IOLoop

from core.errors import EndoScribeError
from core.job_store import JobStore
from core.redis_connection import connect_redis
from core.settings import get_settings

log = logging.getLogger("endoscribe.flower")

_flower_revoke = TaskRevoke.post


def read_only_unless_asked() -> bool:
    """Flower's `read_only`: on, unless `FLOWER_READ_ONLY` says false."""
    return bool(strtobool(os.environ.get("FLOWER_READ_ONLY") or "true"))


def guard_flower() -> None:
    """Put `/metrics` behind the login, and make a successful revoke cancel the job. Runs once."""
    if TaskRevoke.post is not _flower_revoke:
        return
    Metrics.get = web.authenticated(Metrics.get)
    TaskRevoke.post = _revoke_and_cancel


@functools.cache
def _job_store() -> JobStore:
    settings = get_settings()
    return JobStore(connect_redis(settings), settings.retention_seconds)


def _cancel_job(job_id: str) -> None:
    try:
        status = _job_store().cancel(job_id)
        log.info("job %s: its task was revoked in Flower; the job is %s", job_id, status.value)
    except EndoScribeError:
        pass  # no such job (erased, or a task id that is not a job's)
    except redis.RedisError as exc:
        log.warning("job %s: revoked in Flower, but cancelling it failed (%s)", job_id, exc.__class__.__name__)


async def _revoke_and_cancel(self: Any, taskid: str) -> None:
    # Flower's own handler first: its login and read-only checks refuse before anything is cancelled.
    await _flower_revoke(self, taskid)
    await IOLoop.current().run_in_executor(None, _cancel_job, taskid)

