"""The light webhook delivery process: `python -m webhooks.deliverer`. Never imports torch.

It polls the due-time schedule in Redis, claims due callbacks under a lease and sends each from
a small thread pool, so a slow or dead receiver delays neither transcription nor other receivers;
each API key gets a fair share of the senders and of the host name lookups (`webhooks.scheduler`,
`webhooks.dns`), so one tenant's dead receiver or nameserver delays only its own callbacks.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import redis

from core import logging_setup
from core.job_store import JobStore
from core.metrics_server import serve as serve_metrics
from core.redis_connection import connect_redis
from core.redis_safety import check_no_eviction
from core.settings import Settings, get_settings
from core.webhook_store import WebhookStore
from webhooks import metrics
from webhooks.delivery import Deliverer, attempt_delivery
from webhooks.scheduler import Dispatcher, Due

log = logging.getLogger("endoscribe.webhooks")


def lease_seconds(settings: Settings) -> float:
    # Longer than any one attempt (a lookup of up to dns_timeout_seconds, then a hard overall deadline of
    # timeout_seconds) so a live deliverer never sees its own claim come due again; short enough that a
    # killed one's claims resume quickly.
    hooks = settings.webhook
    return max(hooks.timeout_seconds * 2, hooks.dns_timeout_seconds + hooks.timeout_seconds) + 5


def defer_seconds(settings: Settings) -> float:
    # How far the callbacks of a key at its share of senders are stepped past when more are due than
    # one read holds: a few polls, so the key gets them back soon after a sender of its frees up.
    return max(1.0, settings.webhook.tuning.poll_seconds * 3)


def connect(settings: Settings) -> Deliverer:
    """The deliverer's stores on one Redis client, TLS verified as configured (connects lazily)."""
    client = connect_redis(settings)
    return Deliverer(
        jobs=JobStore(client, settings.retention_seconds),
        webhooks=WebhookStore(client, settings.retention_seconds, settings.quota.webhook_attempts_kept),
        settings=settings.webhook,
    )


def run(settings: Settings, stop: threading.Event, deliverer: Deliverer | None = None) -> None:
    """Send due callbacks until `stop` is set; `deliverer` replaces the one `connect` makes (tests)."""
    deliverer = deliverer or connect(settings)
    check_no_eviction(deliverer.jobs.redis, settings)  # raises: no deliverer on an evicting Redis
    if not settings.webhook.secret:
        log.warning("ENDOSCRIBE_WEBHOOK_SECRET is not set: callbacks are refused at submit")
    serve_metrics(settings.metrics)
    hooks = settings.webhook
    dispatcher = Dispatcher(deliverer.jobs, deliverer.webhooks, hooks.senders, hooks.senders_per_key,
                            lease_seconds(settings), defer_seconds(settings))
    log.info("webhook deliverer polling every %.1fs (%d senders, %d per key)", hooks.tuning.poll_seconds,
             hooks.senders, hooks.senders_per_key)
    wake = threading.Event()

    def send(item: Due) -> None:
        try:
            started = time.perf_counter()
            outcome = attempt_delivery(deliverer, item.job_id, item.tenant)
            metrics.observe_attempt(outcome, time.perf_counter() - started)
        except Exception:
            log.exception("webhook attempt for job %s crashed; it comes due again after its lease", item.job_id)
        finally:
            dispatcher.done(item)
            wake.set()  # a sender is free: look for more at once rather than after a full poll

    with ThreadPoolExecutor(hooks.senders, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            batch: list[Due] = []
            try:
                batch = dispatcher.next_batch(time.time())
            except redis.RedisError as exc:
                log.warning("redis unavailable (%s); retrying", exc.__class__.__name__)
            for item in batch:
                pool.submit(send, item)
            wake.wait(hooks.tuning.poll_seconds)
            wake.clear()
            if stop.is_set():
                break
    log.info("webhook deliverer stopped")


def main() -> None:
    logging_setup.configure()  # httpx's request lines (full URLs, often a token) stay out
    stop = threading.Event()

    def _stop(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: finishing in-flight attempts", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run(get_settings(), stop)


if __name__ == "__main__":
    main()
