"""Job counters and histograms kept in Redis, written inside the transactions that store and end jobs.

Every job is stored once and ends once (`JobStore`, which calls its participant `JobCounters`), whichever process
ends it: the worker that ran it, recovery in another worker (`worker_crashed`), or the API cancelling a
queued job. Counting inside those transactions counts each job exactly once, wherever the process runs
and whatever pool it uses, and the totals outlive every process; the API exports them at scrape time
(`core.cluster_metrics`). No job id, key or file name is ever part of a field: only a status, an error
code and an audio container, each from a fixed set.

Layout of the one hash (`keys.JOB_METRICS`): `submitted|<format>`, `ended|<status>|<error code>`, and
per histogram `<name>|bucket|<upper bound>` (one bucket per observation, cumulated when read),
`<name>|sum` and `<name>|count`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Created, Ended, Participant
from core.redis_calls import as_hash

QUEUE_WAIT = "queue_wait_seconds"
"""Submission to the start of the run that ended the job."""
PROCESSING = "processing_seconds"
"""That run's time, claim to end."""
REALTIME_FACTOR = "realtime_factor"
"""Seconds of audio per second of processing, for completed jobs (`JobPublic.realtime_factor`)."""

BUCKETS: dict[str, tuple[float, ...]] = {
    QUEUE_WAIT: (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    PROCESSING: (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600),
    REALTIME_FACTOR: (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500),
}

_SAFE = re.compile(r"[a-z0-9_]{1,48}")


def label_value(value: str | None) -> str:
    """A value fit for a metric label: a short machine code, else `other` (never free text)."""
    if not value:
        return ""
    return value if _SAFE.fullmatch(value) else "other"


def bound_name(bound: float) -> str:
    """An upper bound as Prometheus writes `le` (`0.5`, `1.0`, `+Inf`)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def stage_submitted(pipe: Pipeline, audio_format: str) -> None:
    """Inside the transaction that stores a job: count it."""
    pipe.hincrby(keys.JOB_METRICS, f"submitted|{label_value(audio_format) or 'unknown'}", 1)


def stage_ended(
    pipe: Pipeline, status: str, error_code: str | None, queue_wait: float | None, processing: float | None,
    audio_seconds: float | None,
) -> None:
    """Inside the transaction that ends a job: count its outcome and observe its timings."""
    pipe.hincrby(keys.JOB_METRICS, f"ended|{label_value(status)}|{label_value(error_code)}", 1)
    if queue_wait is not None:
        _observe(pipe, QUEUE_WAIT, max(0.0, queue_wait))
    if processing:
        _observe(pipe, PROCESSING, processing)
        if status == "completed" and audio_seconds:
            _observe(pipe, REALTIME_FACTOR, audio_seconds / processing)


class JobCounters(Participant):
    """The job store's participant for the job counters and histograms."""

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        stage_submitted(pipe, created.record.audio_format)

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        stage_ended(pipe, ended.status.value, ended.error_code, ended.queue_wait, ended.processing_seconds,
                    ended.audio_seconds)


def _observe(pipe: Pipeline, name: str, value: float) -> None:
    bound = next((b for b in BUCKETS[name] if value <= b), math.inf)
    pipe.hincrby(keys.JOB_METRICS, f"{name}|bucket|{bound_name(bound)}", 1)
    pipe.hincrbyfloat(keys.JOB_METRICS, f"{name}|sum", value)
    pipe.hincrby(keys.JOB_METRICS, f"{name}|count", 1)


@dataclass
class HistogramTotals:
    """One histogram as Prometheus wants it: cumulative (`le`, count) pairs ending in `+Inf`, and the sum."""

    buckets: list[tuple[str, int]]
    sum: float


@dataclass
class JobTotals:
    submitted: dict[str, int] = field(default_factory=dict)
    """Jobs stored, by audio container."""
    ended: dict[tuple[str, str], int] = field(default_factory=dict)
    """Jobs ended, by (status, error code)."""
    histograms: dict[str, HistogramTotals] = field(default_factory=dict)


def parse(raw: dict[bytes, bytes]) -> JobTotals:
    """The totals from the hash as HGETALL returns it."""
    values = {k.decode(): v.decode() for k, v in raw.items()}
    totals = JobTotals()
    for name, value in values.items():
        kind, _, rest = name.partition("|")
        if kind == "submitted":
            totals.submitted[rest] = int(value)
        elif kind == "ended":
            status, _, code = rest.partition("|")
            totals.ended[(status, code)] = int(value)
    for name, bounds in BUCKETS.items():
        count = int(values.get(f"{name}|count", 0))
        running, buckets = 0, []
        for bound in bounds:
            running += int(values.get(f"{name}|bucket|{bound_name(bound)}", 0))
            buckets.append((bound_name(bound), running))
        # +Inf is the count, so buckets dropped from BUCKETS in a later version still add up.
        buckets.append(("+Inf", count))
        totals.histograms[name] = HistogramTotals(buckets, float(values.get(f"{name}|sum", 0.0)))
    return totals


def read(client: redis.Redis) -> JobTotals:
    """The job totals now."""
    return parse(as_hash(client.hgetall(keys.JOB_METRICS)))
