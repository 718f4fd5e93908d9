"""The worker's own split of a live unit's time: its wait for a lane, then its decode.

Read from the worker's `/metrics` (`endoscribe_worker_live_unit_seconds{kind, stage}`, a histogram)
before and after a run; the difference is the run's. Tail figures are the histogram's bucket bounds
("p95 ≤ 0.5 s": 95 % of the units took at most 0.5 s), which is all a histogram keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx

FAMILY = "endoscribe_worker_live_unit_seconds"


@dataclass
class Histogram:
    total: float = 0.0
    count: int = 0
    buckets: dict[float, int] = field(default_factory=dict)
    """Upper bound (seconds) -> units at most that long (cumulative, as Prometheus keeps them)."""

    def minus(self, before: Histogram) -> Histogram:
        return Histogram(self.total - before.total, self.count - before.count,
                         {le: n - before.buckets.get(le, 0) for le, n in self.buckets.items()})

    def bound(self, q: float) -> float:
        """The smallest bucket bound that holds a share `q` of the units."""
        need = q * self.count
        return next((le for le, n in sorted(self.buckets.items()) if n >= need), math.inf)


Units = dict[tuple[str, str], Histogram]


def read_units(metrics_url: str) -> Units:
    """The worker's live unit histograms so far: (kind, stage) -> histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    out: Units = {}
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=10).text):
        if family.name != FAMILY:
            continue
        for sample in family.samples:
            h = out.setdefault((sample.labels["kind"], sample.labels["stage"]), Histogram())
            if sample.name.endswith("_sum"):
                h.total = sample.value
            elif sample.name.endswith("_count"):
                h.count = int(sample.value)
            elif sample.name.endswith("_bucket"):
                h.buckets[float(sample.labels["le"])] = int(sample.value)
    return out


def split_lines(before: Units, after: Units) -> list[str]:
    """Per kind and stage: units, mean, and the tail's bucket bounds, over what ran between the reads."""
    rows = []
    for kind in ("final", "partial"):
        for stage in ("wait", "decode"):
            h = after.get((kind, stage), Histogram()).minus(before.get((kind, stage), Histogram()))
            if h.count <= 0:
                continue
            tails = ", ".join(f"{name} {_bound(h, q)}" for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)))
            rows.append(f"    {kind:<7} {stage:<6} {h.count:4d} units, mean {h.total / h.count:.3f} s, {tails}, "
                        f"max {_bound(h, 1.0)}")
    return rows


def _bound(h: Histogram, q: float) -> str:
    bound = h.bound(q)
    if math.isinf(bound):
        return f"> {max((le for le in h.buckets if not math.isinf(le)), default=0):g} s"
    return f"≤ {bound:g} s"
