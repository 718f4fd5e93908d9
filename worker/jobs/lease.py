"""Keep a job's lease alive while it runs, from a thread of the process that runs it.

The lease (the job's lock with a short TTL) is what tells other workers this job is in hand; if
this process dies, renewals stop and a live worker requeues the job. Renewing here, not in the
worker's heartbeat, works the same in the solo pool and in a prefork child.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from core.job_store import JobStore

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews `job_id`'s lease every third of its length until stopped.

    If renewal finds the lease held by someone else, `lost` is set and the job must stop without
    writing an outcome. Past `hard_deadline` (the job limit plus grace: the model hung inside a
    call the runner cannot interrupt) it calls `expire` (the runner fails the job with `job_timeout`)
    and stops renewing, so no job stays `processing` for ever.
    """

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        owner: str,
        lease_seconds: float,
        hard_deadline: float,
        expire: Callable[[], object],
        job_limit: float = 0.0,
    ):
        self.store = store
        self.job_id = job_id
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.hard_deadline = hard_deadline
        self.expire = expire
        self.job_limit = job_limit
        """The job's own time limit (seconds of work), checked by the runner between batches."""
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            if time.monotonic() > self.hard_deadline:
                self._expire()
                return
            try:
                if not self.store.renew_lock(self.job_id, self.owner, self.lease_seconds):
                    log.error("job %s: lease taken over by another worker; abandoning it", self.job_id)
                    self.lost.set()
                    return
            except redis.RedisError as exc:  # Redis away: keep trying while the lease may still be valid
                log.warning("job %s: lease renewal failed (%s)", self.job_id, exc.__class__.__name__)

    def _expire(self) -> None:
        log.error("job %s: still running past its hard deadline; failing it", self.job_id)
        self.lost.set()
        try:
            self.expire()
        except Exception:
            log.exception("job %s: could not record the timeout; its lease lapses and a worker retries", self.job_id)
