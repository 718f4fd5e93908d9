"""The webhook deliverer's Prometheus metrics: delivery attempts by result, and how long each took.

The deliverer serves them itself on `ENDOSCRIBE_METRICS_PORT`. The backlog (callbacks scheduled, callbacks
due) is read from Redis by the API at scrape time (`core.cluster_metrics`).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RESULTS = ("delivered", "retrying", "failed")
"""What an attempt led to: the receiver took it; it failed and another attempt is scheduled; it failed for good."""

ATTEMPTS = Counter("endoscribe_webhook_attempts", "Callback delivery attempts, by result: delivered, retrying "
                   "(failed, another attempt scheduled) or failed (no attempt follows)", ["result"])
ATTEMPT_SECONDS = Histogram("endoscribe_webhook_attempt_duration_seconds",
                            "Time of one delivery attempt, payload built, signed and sent",
                            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

for _result in RESULTS:
    ATTEMPTS.labels(_result)  # every result shows from the start, at 0, so rates and alerts see it


def observe_attempt(result: str, seconds: float) -> None:
    """One attempt ended with `result` (what `webhooks.delivery.attempt_delivery` returns) after `seconds`.

    `skipped` (nothing to send) and `deferred` (Redis failed: no attempt was made) are not attempts."""
    if result in RESULTS:
        ATTEMPTS.labels(result).inc()
        ATTEMPT_SECONDS.observe(seconds)
