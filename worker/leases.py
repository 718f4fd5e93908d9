"""The worker's one lease renewer: every job and live-session lease this process holds, renewed together.

A lease (a key holding its holder's name, with a short TTL) is what tells other workers a job or a
session is in hand; if this process dies, renewals stop and a live worker takes the work over.
Renewing from a thread of the process that runs the work, not from the heartbeat, works the same in
the solo pool and in a prefork child. Every third of a lease, one thread renews every lease held in
one Redis pipeline: a worker with 64 open jobs and a few sessions sends one round trip, not 64
threads' worth. The thread runs while something is held, and ends by itself when nothing is.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from core.job_store import JobStore
from core.session_store import SessionStore

log = logging.getLogger(__name__)


class LeaseKind(StrEnum):
    JOB = "job"
    SESSION = "session"


@dataclass(eq=False)
class Lease:
    """One lease this process holds. `lost` is set when renewal finds it held by someone else (or gone):
    the work must stop without writing anything."""

    kind: LeaseKind
    id: str
    holder: str
    hard_deadline: float = math.inf
    """Monotonic time past which `expire` is called and renewal stops (a job stuck in the model)."""
    expire: Callable[[], object] | None = None
    lost: threading.Event = field(default_factory=threading.Event)


class LeaseRenewer:
    """Renews every lease it holds each third of `lease_seconds`, in one pipeline.

    Past a job's `hard_deadline` (its time limit plus grace: the model hung inside a call the runner
    cannot interrupt) its `expire` is called (the runner fails the job `job_timeout`) and the lease
    is no longer renewed, so no job stays `processing` for ever.
    """

    def __init__(self, client: redis.Redis, lease_seconds: float) -> None:
        self.redis = client
        self.lease_seconds = lease_seconds
        self._held: dict[tuple[LeaseKind, str, str], Lease] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold_job(self, job_id: str, holder: str, hard_deadline: float = math.inf,
                 expire: Callable[[], object] | None = None) -> Lease:
        return self._hold(Lease(LeaseKind.JOB, job_id, holder, hard_deadline, expire))

    def hold_session(self, session_id: str, holder: str) -> Lease:
        return self._hold(Lease(LeaseKind.SESSION, session_id, holder))

    def drop(self, lease: Lease) -> None:
        """Stop renewing `lease` (its work ended, or it was handed back)."""
        with self._guard:
            self._held.pop((lease.kind, lease.id, lease.holder), None)

    @property
    def running(self) -> bool:
        """Its thread is alive (it is while some lease is held)."""
        with self._guard:
            return self._thread is not None

    def held(self) -> list[Lease]:
        with self._guard:
            return list(self._held.values())

    def renew(self) -> None:
        """One tick: expire what is past its hard deadline, renew the rest in one pipeline."""
        now = time.monotonic()
        leases = self.held()
        for lease in leases:
            if now > lease.hard_deadline:
                self._expire(lease)
        leases = [lease for lease in leases if now <= lease.hard_deadline]
        if not leases:
            return
        pipe = self.redis.pipeline(transaction=False)
        # The stores' own renew calls, bound to the pipeline: they queue, and `execute` answers them all.
        jobs, sessions = JobStore(pipe, 0), SessionStore(pipe, 0)
        for lease in leases:
            renew = jobs.renew_lease if lease.kind is LeaseKind.JOB else sessions.renew
            renew(lease.id, lease.holder, self.lease_seconds)
        try:
            renewed = pipe.execute()
        except redis.RedisError as exc:  # Redis away: keep trying while the leases may still be valid
            log.warning("lease renewal of %d leases failed (%s)", len(leases), exc.__class__.__name__)
            return
        for lease, ok in zip(leases, renewed, strict=True):
            if not ok and self._let_go(lease):
                log.error("%s %s: lease taken over by another worker; abandoning it", lease.kind, lease.id)
                lease.lost.set()

    def _let_go(self, lease: Lease) -> bool:
        """Stop renewing a lease found lost; False if its work had let it go meanwhile (it ended)."""
        with self._guard:
            return self._held.pop((lease.kind, lease.id, lease.holder), None) is not None

    def _hold(self, lease: Lease) -> Lease:
        with self._guard:
            self._held[(lease.kind, lease.id, lease.holder)] = lease
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)
                self._thread.start()
        return lease

    def _run(self) -> None:
        while True:
            time.sleep(self.lease_seconds / 3)
            with self._guard:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.renew()
            except Exception:
                log.exception("lease renewal failed")  # the thread must outlive one bad tick

    def _expire(self, lease: Lease) -> None:
        log.error("%s %s: still running past its hard deadline; failing it", lease.kind, lease.id)
        self.drop(lease)
        lease.lost.set()
        if lease.expire is None:
            return
        try:
            lease.expire()
        except Exception:
            log.exception("%s %s: could not record the timeout; its lease lapses and a worker retries",
                          lease.kind, lease.id)
