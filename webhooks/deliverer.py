"""The light webhook delivery process: `python -m webhooks.deliverer`. Never imports torch.

It polls the due-time schedule in Redis, claims due callbacks under a lease and sends each from
a small thread pool, so a slow or dead receiver delays neither transcription nor other receivers.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType

import redis

from core.job_store import JobStore
from core.metrics_server import serve as serve_metrics
from core.redis_connection import connect_redis
from core.redis_safety import check_no_eviction
from core.settings import Settings, get_settings
from core.webhook_store import WebhookStore
from webhooks import metrics
from webhooks.delivery import Deliverer, attempt_delivery

log = logging.getLogger("endoscribe.webhooks")

CONCURRENCY = 8


def lease_seconds(settings: Settings) -> float:
    # Longer than any one attempt (each has a hard overall deadline of timeout_seconds, plus DNS) so a
    # live deliverer never sees its own claim come due again; short enough that a killed one's claims
    # resume quickly.
    return settings.webhook.timeout_seconds * 2 + 5


def connect(settings: Settings) -> Deliverer:
    """The deliverer's stores on one Redis client, TLS verified as configured (connects lazily)."""
    client = connect_redis(settings)
    return Deliverer(
        jobs=JobStore(client, settings.retention_seconds),
        webhooks=WebhookStore(client, settings.retention_seconds, settings.quota.webhook_attempts_kept),
        settings=settings.webhook,
    )


def run(settings: Settings, stop: threading.Event) -> None:
    deliverer = connect(settings)
    check_no_eviction(deliverer.jobs.redis, settings)  # raises: no deliverer on an evicting Redis
    if not settings.webhook.secret:
        log.warning("ENDOSCRIBE_WEBHOOK_SECRET is not set: callbacks are refused at submit")
    serve_metrics(settings.metrics)
    log.info("webhook deliverer polling every %.1fs", settings.webhook.poll_seconds)
    in_flight: set[str] = set()
    lock = threading.Lock()

    def send(job_id: str) -> None:
        try:
            started = time.perf_counter()
            metrics.observe_attempt(attempt_delivery(deliverer, job_id), time.perf_counter() - started)
        except Exception:
            log.exception("webhook attempt for job %s crashed; it comes due again after its lease", job_id)
        finally:
            with lock:
                in_flight.discard(job_id)

    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="webhook") as pool:
        while not stop.is_set():
            with lock:
                free = CONCURRENCY - len(in_flight)
            due: list[str] = []
            if free > 0:
                try:
                    due = deliverer.webhooks.claim_due(time.time(), lease_seconds(settings), free)
                except redis.RedisError as exc:
                    log.warning("redis unavailable (%s); retrying", exc.__class__.__name__)
            for job_id in due:
                with lock:
                    if job_id in in_flight:
                        continue  # still being sent here; its lease was only pushed forward
                    in_flight.add(job_id)
                pool.submit(send, job_id)
            stop.wait(settings.webhook.poll_seconds)
    log.info("webhook deliverer stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request's full URL, query string included (often a token): ours say enough.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    stop = threading.Event()

    def _stop(signum: int, _: FrameType | None) -> None:
        log.info("signal %s: finishing in-flight attempts", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run(get_settings(), stop)


if __name__ == "__main__":
    main()
