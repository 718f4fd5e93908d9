"""Which due callbacks a deliverer sends next: every API key gets a fair share of its senders.

Due callbacks are taken in turns, one key after another (in the order of each key's longest-waiting
callback), and no key holds more than `per_key` senders. So a tenant whose receiver hangs, or whose
nameserver never answers, ties up only its own share, and everyone else's callbacks keep going out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import redis

from core.job_store import JobStore
from core.webhook_store import WebhookStore

SCAN = 500
"""Due callbacks read per poll."""
TENANT_CACHE = 50_000
"""Job -> key answers remembered (a job's key never changes); the cache is emptied when this full."""


@dataclass(frozen=True)
class Due:
    job_id: str
    tenant: str


def pick_fair(due: Sequence[Due], busy: Mapping[str, int], free: int, per_key: int) -> list[Due]:
    """Up to `free` of `due` (longest due first), taken one per key in turn, no key past `per_key`
    counting its `busy` senders."""
    queues: dict[str, list[Due]] = {}
    for item in due:
        queues.setdefault(item.tenant, []).append(item)
    taken: dict[str, int] = dict(busy)
    picked: list[Due] = []
    while len(picked) < free:
        progressed = False
        for tenant, queue in queues.items():
            if len(picked) >= free:
                break
            if queue and taken.get(tenant, 0) < per_key:
                picked.append(queue.pop(0))
                taken[tenant] = taken.get(tenant, 0) + 1
                progressed = True
        if not progressed:
            break
    return picked


class Dispatcher:
    """Claims the next fair batch of due callbacks and keeps count of those being sent, per key."""

    def __init__(self, jobs: JobStore, webhooks: WebhookStore, senders: int, per_key: int,
                 lease_seconds: float, defer_seconds: float) -> None:
        self.jobs, self.webhooks = jobs, webhooks
        self.senders, self.per_key = senders, per_key
        self.lease_seconds, self.defer_seconds = lease_seconds, defer_seconds
        self._sending: dict[str, str] = {}  # job id -> its key
        self._tenants: dict[str, str] = {}
        self._lock = threading.Lock()

    def busy(self) -> dict[str, int]:
        """Senders in use, per key."""
        with self._lock:
            counts: dict[str, int] = {}
            for tenant in self._sending.values():
                counts[tenant] = counts.get(tenant, 0) + 1
            return counts

    def next_batch(self, now: float) -> list[Due]:
        """Claim (lease) and return the callbacks to send now; each must be passed to `done` after."""
        busy = self.busy()
        free = self.senders - sum(busy.values())
        if free <= 0:
            return []
        ids = self.webhooks.due(now, SCAN)
        with self._lock:
            sending = set(self._sending)
        # Still being sent here while its lease ran out: only its lease is renewed, so no other
        # deliverer takes it meanwhile.
        renew = [i for i in ids if i in sending]
        tenants = self._tenants_of([i for i in ids if i not in sending])
        candidates = [Due(i, tenants.get(i) or "") for i in ids if i not in sending]
        picked = pick_fair(candidates, busy, free, self.per_key)
        claimed = set(self.webhooks.claim([d.job_id for d in picked] + renew, now, now + self.lease_seconds))
        batch = [d for d in picked if d.job_id in claimed]
        with self._lock:
            for d in batch:
                self._sending[d.job_id] = d.tenant
        if len(ids) == SCAN:
            self._step_past_full_keys(candidates, busy, batch, now)
        return batch

    def _step_past_full_keys(self, candidates: list[Due], busy: dict[str, int], batch: list[Due], now: float) -> None:
        # More are due than one read holds: the callbacks of keys at their share come due a little later,
        # so the next read reaches the keys behind them instead of finding the same ones again.
        taken = dict(busy)
        for d in batch:
            taken[d.tenant] = taken.get(d.tenant, 0) + 1
        full = {tenant for tenant, n in taken.items() if n >= self.per_key}
        sent = {d.job_id for d in batch}
        held = [d.job_id for d in candidates if d.tenant in full and d.job_id not in sent]
        try:
            self.webhooks.claim(held, now, now + self.defer_seconds)
        except redis.RedisError:
            pass  # only an optimisation: the batch is claimed and counted already; the next poll tries again

    def done(self, item: Due) -> None:
        with self._lock:
            self._sending.pop(item.job_id, None)

    def _tenants_of(self, job_ids: list[str]) -> dict[str, str]:
        unknown = [i for i in job_ids if i not in self._tenants]
        if unknown:
            if len(self._tenants) + len(unknown) > TENANT_CACHE:
                self._tenants.clear()
            for job_id, tenant in self.jobs.tenants(unknown).items():
                # An erased job has no key: it goes out under "" and its attempt unschedules it.
                if tenant is not None:
                    self._tenants[job_id] = tenant
        return {i: self._tenants[i] for i in job_ids if i in self._tenants}
