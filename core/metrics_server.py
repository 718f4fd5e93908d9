"""Where a process's Prometheus metrics are read from, and the small HTTP server workers and the deliverer use.

One process keeps its metrics in memory (prometheus_client's default registry). Several processes
serving one port (uvicorn `--workers N`, a prefork Celery pool) need prometheus_client's multiprocess
mode: set `PROMETHEUS_MULTIPROC_DIR` to an empty folder every process can write, before they start;
each process then writes its counters there and a scrape sums them, whichever process answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, disable_created_metrics, start_http_server
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from core.settings import MetricsSettings

log = logging.getLogger(__name__)

# A `_created` timestamp beside every counter and histogram doubles the series Prometheus stores, and
# nothing here reads them (multiprocess mode never writes them either, so both modes now look alike).
disable_created_metrics()


def multiprocess_dir() -> str:
    """prometheus_client's multiprocess folder; empty when this process keeps its metrics in memory."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Forward(Collector):
    """Everything in another registry (the default one), collected afresh at each scrape."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """What a scrape reads: this process's metrics (or, in multiprocess mode, every process's), plus
    `extra` collectors that read their figures at scrape time."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


def serve(settings: MetricsSettings, *extra: Collector) -> bool:
    """Serve `/metrics` on `settings.port` from a daemon thread; False when the port is 0 or taken."""
    if not settings.port:
        return False
    try:
        start_http_server(settings.port, settings.host, registry=scrape_registry(*extra))
    except OSError as exc:
        # The process's real work matters more than its metrics: say what to fix and go on.
        log.error("metrics not served on %s:%d (%s): give each process on a host its own ENDOSCRIBE_METRICS_PORT",
                  settings.host, settings.port, exc)
        return False
    log.info("metrics on http://%s:%d/metrics", settings.host, settings.port)
    return True
