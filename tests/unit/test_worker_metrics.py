"""The hooks the worker's scheduler calls, and the GPU memory it reports at scrape time."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from tests.metrics import parse, value
from worker import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_batches_oom_halvings_and_model_loads_are_counted() -> None:
    fill, windows = sample("endoscribe_worker_batch_fill_ratio_sum"), sample("endoscribe_worker_batch_windows_sum")
    half = sample("endoscribe_worker_batch_fill_ratio_bucket", le="0.5")
    halvings = sample("endoscribe_worker_oom_halvings_total")
    loads = sample("endoscribe_worker_model_load_seconds_count")
    metrics.observe_batch(6, 8)
    metrics.observe_batch(3, 8)
    metrics.count_oom_halving()
    metrics.observe_model_load(2.5)
    assert sample("endoscribe_worker_batch_fill_ratio_sum") - fill == pytest.approx(0.75 + 0.375)
    assert sample("endoscribe_worker_batch_fill_ratio_bucket", le="0.5") - half == 1
    assert sample("endoscribe_worker_batch_windows_sum") - windows == 9
    assert sample("endoscribe_worker_oom_halvings_total") - halvings == 1
    assert sample("endoscribe_worker_model_load_seconds_count") - loads == 1


def gpu_samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(metrics.GpuMemoryCollector())
    return parse(generate_latest(registry).decode())


def test_gpu_memory_is_read_from_the_driver_once_cuda_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    gib = 1024**3
    cuda = SimpleNamespace(is_initialized=lambda: True, current_device=lambda: 0,
                           mem_get_info=lambda index: (60 * gib, 80 * gib), memory_reserved=lambda index: 2 * gib)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    samples = gpu_samples()
    assert value(samples, "endoscribe_worker_gpu_memory_used_bytes", gpu="0") == 20 * gib
    assert value(samples, "endoscribe_worker_gpu_memory_total_bytes", gpu="0") == 80 * gib
    assert value(samples, "endoscribe_worker_gpu_memory_torch_reserved_bytes", gpu="0") == 2 * gib


def test_a_scrape_never_initialises_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(index: int) -> None:
        raise AssertionError("a scrape touched CUDA before the worker did")

    cuda = SimpleNamespace(is_initialized=lambda: False, current_device=forbidden, mem_get_info=forbidden,
                           memory_reserved=forbidden)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    assert gpu_samples() == {}
