"""Delivery capacity is shared fairly between API keys: one tenant's dead nameserver or hanging receiver
delays only its own callbacks. Real Redis and real loopback receivers; no real DNS is ever asked."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core import keys
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord
from core.settings import Settings, WebhookSettings
from core.tuning import WebhookTuning
from core.webhook_records import WebhookConfig
from core.webhook_store import WebhookStore
from tests.receiver import Receiver, Reply
from tests.services import TEST_WEBHOOK_SECRET, start_deliverer
from webhooks import deliverer, scheduler
from webhooks.delivery import Deliverer
from webhooks.dns import DnsPool


def ended_jobs_with_callbacks(client: redis.Redis, owner: str, url: str, count: int) -> list[str]:
    """`count` jobs of key `owner`, ended now, so their callbacks to `url` are due."""
    store = JobStore(client, 3600)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for job_id in ids:
        store.create(JobRecord(id=job_id, created_at=utcnow(), tenant=owner), WebhookConfig(url=url))
        store.cancel(job_id)
    return ids


class Nameserver:
    """Answers b.example with loopback; never answers a.example until released. Counts hanging lookups."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.hanging = 0
        self.most_hanging = 0
        self._lock = threading.Lock()

    def lookup(self, host: str, port: int) -> list[str]:
        if host == "a.example":
            with self._lock:
                self.hanging += 1
                self.most_hanging = max(self.most_hanging, self.hanging)
            self.release.wait(30)
            with self._lock:
                self.hanging -= 1
        return ["127.0.0.1"]


@pytest.fixture()
def nameserver() -> Iterator[Nameserver]:
    ns = Nameserver()
    yield ns
    ns.release.set()


def test_a_tenant_whose_nameserver_never_answers_does_not_hold_up_other_tenants(
    clean_redis: redis.Redis, own_redis_url: str, nameserver: Nameserver
) -> None:
    # A first-come deliverer would give all 4 senders to the stalled tenant for the 2 s lookup deadline.
    hooks = WebhookSettings(secret=TEST_WEBHOOK_SECRET, allow_private=True, allow_http=True,
                            tuning=WebhookTuning(poll_seconds=0.05),
                            timeout_seconds=1, retry_base_seconds=60, senders=4, senders_per_key=2,
                            dns_timeout_seconds=2, dns_lookups_per_key=2)
    settings = Settings(redis_url=own_redis_url, dev_mode=True, webhook=hooks)
    dns = DnsPool(threads=8, per_owner=2, timeout=2, lookup=nameserver.lookup)
    sender = Deliverer(JobStore(clean_redis, 3600), WebhookStore(clean_redis, 3600), hooks, dns=dns)
    stop = threading.Event()
    with Receiver() as receiver:
        # The stalled tenant's callbacks have waited longest: a first-come deliverer takes them first.
        stalled = ended_jobs_with_callbacks(clean_redis, "tenant-a", "http://a.example/hook", 12)
        port = receiver.url.rsplit(":", 1)[1]
        ended_jobs_with_callbacks(clean_redis, "tenant-b", f"http://b.example:{port}/hook", 3)
        loop = threading.Thread(target=deliverer.run, args=(settings, stop, sender), daemon=True)
        started = time.monotonic()
        loop.start()
        try:
            receiver.wait_for(3, timeout=10)
            took = time.monotonic() - started
        finally:
            stop.set()
            loop.join(10)  # waits for the stalled tenant's two attempts to reach their deadline

    assert took < 1, f"tenant-b's callbacks took {took:.2f} s"
    # The stalled tenant held only its share of the senders and lookup threads.
    assert nameserver.most_hanging == 2
    errors = [a.error for job_id in stalled if (h := sender.webhooks.get(job_id)) for a in h.attempts]
    assert errors == ["dns: callback_url host 'a.example' does not resolve"] * 2


def test_a_tenant_whose_receiver_hangs_does_not_hold_up_other_tenants(
    clean_redis: redis.Redis, own_redis_url: str, tmp_path: Path
) -> None:
    with Receiver(default=Reply(delay=5)) as slow, Receiver() as prompt:
        ended_jobs_with_callbacks(clean_redis, "tenant-a", f"{slow.url}/hook", 12)
        ended_jobs_with_callbacks(clean_redis, "tenant-b", f"{prompt.url}/hook", 3)
        # A real deliverer process (8 senders, 2 per key), each attempt cut off after 3 s.
        proc = start_deliverer(own_redis_url, tmp_path, ENDOSCRIBE_WEBHOOK_TIMEOUT_SECONDS="3")
        started = time.monotonic()
        try:
            prompt.wait_for(3, timeout=15)
            took = time.monotonic() - started
            slow_seen = len(slow.requests)
        finally:
            proc.stop(signal.SIGKILL)  # its attempts are stuck on the hanging receiver: no need to wait

    assert took < 1.5, f"tenant-b's callbacks took {took:.2f} s"
    assert slow_seen == 2  # its share of the senders, still waiting on the hanging receiver


def test_a_backlog_longer_than_one_read_does_not_hide_other_tenants(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "SCAN", 4)
    ended_jobs_with_callbacks(clean_redis, "tenant-a", "https://a.example/hook", 10)
    [theirs] = ended_jobs_with_callbacks(clean_redis, "tenant-b", "https://b.example/hook", 1)
    dispatcher = scheduler.Dispatcher(JobStore(clean_redis, 3600), WebhookStore(clean_redis, 3600), senders=4,
                                      per_key=2, lease_seconds=30, defer_seconds=5)
    now = time.time()

    batches = [[d.tenant for d in dispatcher.next_batch(now)] for _ in range(4)]

    # Two of tenant-a's (its share), then reads step past the rest of its backlog to tenant-b's.
    assert batches == [["tenant-a", "tenant-a"], [], ["tenant-b"], []]
    assert dispatcher.busy() == {"tenant-a": 2, "tenant-b": 1}
    assert clean_redis.zscore(keys.WEBHOOK_DUE, theirs) == now + 30
