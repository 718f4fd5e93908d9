"""The metrics reference: every series, from the prometheus_client objects and collectors."""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterator
from dataclasses import dataclass

from scripts.reference.markdown import HEADER, REPO, cell

# Which process serves the metrics declared under each package. The modules themselves are found by
# reading the source (any module that uses prometheus_client), so a module that moves is still found.
METRIC_PACKAGES: tuple[tuple[str, str], ...] = (
    ("api", "The API process (`GET /metrics`, with `ENDOSCRIBE_METRICS_TOKEN`)"),
    ("core", "Read from Redis at each scrape of the API: the whole service, every replica alike"),
    ("worker", "Each worker process (`ENDOSCRIBE_METRICS_PORT` on the worker)"),
    ("webhooks", "The webhook deliverer (`ENDOSCRIBE_METRICS_PORT` on the deliverer)"),
)


@dataclass(frozen=True)
class MetricDoc:
    name: str
    type: str
    labels: tuple[str, ...]
    doc: str


def metric_modules(package: str) -> Iterator[types.ModuleType]:
    """The modules under `package` that use prometheus_client, in path order."""
    for path in sorted((REPO / package).rglob("*.py")):
        if "prometheus_client" in path.read_text():
            yield importlib.import_module(".".join(path.relative_to(REPO).with_suffix("").parts))


def _exposed_name(name: str, kind: str) -> str:
    return f"{name}_total" if kind == "counter" and not name.endswith("_total") else name


def metrics_of(module: types.ModuleType) -> list[MetricDoc]:
    """The metrics a module declares: prometheus_client objects, and its collectors' families."""
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.registry import Collector

    found: list[MetricDoc] = []
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                found.append(MetricDoc(_exposed_name(family.name, family.type), family.type,
                                       tuple(value._labelnames), family.documentation))
        elif (isinstance(value, type) and Collector in value.__mro__ and value.__module__ == module.__name__
              and "describe" in vars(value)):
            # describe() names the families without reading anything (the collectors promise so):
            # an instance needs none of its connections for it.
            instance: Collector = object.__new__(value)
            for family in instance.describe():  # type: ignore[attr-defined]
                labels = tuple(getattr(family, "_labelnames", ()))
                found.append(MetricDoc(_exposed_name(family.name, family.type), family.type, labels,
                                       family.documentation))
    return sorted(set(found), key=lambda m: m.name)


def metrics_page() -> str:
    parts = [HEADER, "# Metrics\n\n",
             "Every Prometheus series EndoScribe exports, by the process that serves it, with its labels and "
             "help text, read from the metric objects themselves. Counters are shown with the `_total` suffix "
             "Prometheus sees; histograms add `_bucket`, `_sum` and `_count`. What the labels hold, how to "
             "scrape and what a scrape costs: [Metrics](../operations/metrics.md).\n\n"]
    for package, where in METRIC_PACKAGES:
        for module in metric_modules(package):
            metrics = metrics_of(module)
            if not metrics:
                continue
            path = module.__name__.replace(".", "/") + ".py"
            parts.append(f"## {where}\n\nFrom `{path}`.\n\n| Metric | Type | Labels | Help |\n|---|---|---|---|\n")
            for m in metrics:
                labels = ", ".join(f"`{label}`" for label in m.labels)
                parts.append(f"| `{m.name}` | {m.type} | {labels} | {cell(m.doc)} |\n")
            parts.append("\n")
    return "".join(parts)
