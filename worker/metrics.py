"""A worker's own Prometheus metrics: batch fill, model load time, CUDA out-of-memory halvings, GPU memory.

They describe one worker process (which GPU is full, which batches run half empty), so each worker
serves them itself on `ENDOSCRIBE_METRICS_PORT` (`serve`), and Prometheus scrapes every worker as its own
target. Job outcomes and timings are not here: they are counted in Redis as each job ends, wherever it
ends (`core.job_metrics`), and the API exports them.

The GPU worker runs the solo pool, one process, so these live in memory. A prefork pool (CPU workers)
needs `PROMETHEUS_MULTIPROC_DIR` so that the children's counts reach the parent's port.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.metrics_server import serve as serve_registry
from core.settings import MetricsSettings

log = logging.getLogger(__name__)

BATCH_FILL = Histogram(
    "endoscribe_worker_batch_fill_ratio", "Share of a batch's capacity that was filled, per model call",
    buckets=(0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0))
BATCH_WINDOWS = Histogram(
    "endoscribe_worker_batch_windows", "Speech windows in a batch, per model call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
OOM_HALVINGS = Counter(
    "endoscribe_worker_oom_halvings", "Times a CUDA out-of-memory error made the worker halve its batch size")
MODEL_LOAD = Histogram(
    "endoscribe_worker_model_load_seconds", "Time to load the transcription model into memory",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600))

LIVE_UNIT = Histogram(
    "endoscribe_worker_live_unit_seconds",
    "A live utterance's decode (kind: partial or final): its wait for a lane (stage=wait), then the decode",
    ["kind", "stage"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))


def observe_live_unit(kind: str, stage: str, seconds: float) -> None:
    """A live unit waited `seconds` for a lane (`stage="wait"`), or took them to decode (`"decode"`)."""
    LIVE_UNIT.labels(kind, stage).observe(max(0.0, seconds))


def observe_batch(filled: int, capacity: int) -> None:
    """One model call ran `filled` windows in a batch that holds `capacity`."""
    if capacity > 0:
        BATCH_FILL.observe(min(1.0, filled / capacity))
    BATCH_WINDOWS.observe(filled)


def count_oom_halving() -> None:
    """A CUDA out-of-memory error made the worker halve its batch size."""
    OOM_HALVINGS.inc()


def observe_model_load(seconds: float) -> None:
    """The model took `seconds` to load."""
    MODEL_LOAD.observe(seconds)


class GpuMemoryCollector(Collector):
    """GPU memory of the device this process computes on, read from the driver at scrape time.

    Nothing is reported until torch has initialised CUDA in this process: a scrape must never be the
    thing that creates a CUDA context (CUDA is not fork-safe, and a context costs hundreds of MB).
    """

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        yield from self._families(_read_gpu())

    @staticmethod
    def _families(reading: tuple[str, int, int, int] | None = None) -> Iterator[Metric]:
        used = GaugeMetricFamily("endoscribe_worker_gpu_memory_used_bytes",
                                 "GPU memory in use on the device, by every process (CTranslate2 included)",
                                 labels=["gpu"])
        total = GaugeMetricFamily("endoscribe_worker_gpu_memory_total_bytes", "GPU memory of the device",
                                  labels=["gpu"])
        reserved = GaugeMetricFamily("endoscribe_worker_gpu_memory_torch_reserved_bytes",
                                     "GPU memory held by this process's torch allocator (VAD, alignment)",
                                     labels=["gpu"])
        if reading is not None:
            gpu, free, size, torch_reserved = reading
            used.add_metric([gpu], size - free)
            total.add_metric([gpu], size)
            reserved.add_metric([gpu], torch_reserved)
        yield from (used, total, reserved)


def _read_gpu() -> tuple[str, int, int, int] | None:
    """(device index, free bytes, total bytes, torch-reserved bytes), or None without initialised CUDA."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    try:
        index = torch.cuda.current_device()
        free, total = torch.cuda.mem_get_info(index)
        return str(index), int(free), int(total), int(torch.cuda.memory_reserved(index))
    except RuntimeError as exc:  # a lost device must not fail the whole scrape
        log.warning("GPU memory unreadable: %s", exc)
        return None


def serve(settings: MetricsSettings) -> None:
    """Serve this worker's metrics (GPU memory included) on `settings.port`, if set."""
    serve_registry(settings, GpuMemoryCollector())
