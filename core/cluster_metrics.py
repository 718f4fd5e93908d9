"""A Prometheus collector for what the whole service shares in Redis, read at scrape time.

Queue depth (the broker's lists and the scheduler's ready lanes), open jobs, live workers and the
webhook schedule are read from Redis when Prometheus scrapes, so they are right however many processes
serve `/metrics`, and need no process to keep them up to date. Job totals (submitted, ended, timings)
are the counters `core.job_metrics` keeps in Redis.

These series describe the cluster, not the process that serves them: every API replica reports the
same values. Aggregate them with `max`, not `sum` (the Grafana dashboard in `deploy/` does).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from core import job_metrics, keys
from core.jobs import JobStatus
from core.queueing import broker_depths

# Statuses of open jobs are read in pipelines of this many, so a long queue never makes one huge reply.
STATUS_CHUNK = 1000

HISTOGRAM_HELP = {
    job_metrics.QUEUE_WAIT: "Seconds from submission to the start of the run that ended the job",
    job_metrics.PROCESSING: "Seconds the run that ended the job took, claim to end",
    job_metrics.REALTIME_FACTOR: "Seconds of audio transcribed per second of processing (completed jobs)",
}


class ClusterCollector(Collector):
    """Queue, job, worker and webhook figures from Redis; `endoscribe_redis_up` 0 when Redis does not answer."""

    def __init__(self, client: redis.Redis, queues: Iterable[str] = (keys.TRANSCRIBE_QUEUE,)) -> None:
        self.client = client
        self.queues = tuple(queues)

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not call Redis.
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        try:
            figures = self._read()
        except redis.RedisError:
            yield GaugeMetricFamily("endoscribe_redis_up", "1 if Redis answered this scrape", value=0)
            return
        yield from self._families(figures)

    def _read(self) -> _Figures:
        waiting, unacked = broker_depths(self.client, self.queues)
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(keys.WORKERS, now, "+inf")
        pipe.zcard(keys.WEBHOOK_DUE)
        pipe.zcount(keys.WEBHOOK_DUE, "-inf", now)
        # The high-priority lane's scores sit below every normal score (`keys.ready_score`).
        boundary = keys.ready_score(0, "normal")
        pipe.zcount(keys.READY, "-inf", f"({boundary}")
        pipe.zcount(keys.READY, boundary, "+inf")
        workers, scheduled, due, high, normal = pipe.execute()
        return _Figures(waiting, unacked, {"high": int(high), "normal": int(normal)}, self._open_jobs(),
                        int(workers), int(scheduled), int(due), job_metrics.read(self.client))

    def _open_jobs(self) -> dict[str, int]:
        counts = {JobStatus.QUEUED.value: 0, JobStatus.PROCESSING.value: 0}
        ids = cast(list[bytes], self.client.zrange(keys.OPEN_JOBS, 0, -1))
        for start in range(0, len(ids), STATUS_CHUNK):
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids[start:start + STATUS_CHUNK]:
                pipe.hget(keys.job_key(job_id.decode()), "status")
            for status in pipe.execute():
                # An id whose job just ended (or expired) between the two reads is no longer open.
                if status is not None and status.decode() in counts:
                    counts[status.decode()] += 1
        return counts

    def _families(self, f: _Figures | None) -> Iterator[Metric]:
        up = 1 if f is not None else None
        yield GaugeMetricFamily("endoscribe_redis_up", "1 if Redis answered this scrape", value=up)
        waiting = GaugeMetricFamily("endoscribe_queue_messages", "Task messages waiting in the broker queue",
                                    labels=["queue"])
        unacked = GaugeMetricFamily("endoscribe_queue_unacked_messages",
                                    "Task messages delivered to a worker and not yet acknowledged (running jobs)")
        ready = GaugeMetricFamily("endoscribe_jobs_ready", "Queued jobs a worker's scheduler may claim, by lane",
                                  labels=["lane"])
        open_jobs = GaugeMetricFamily("endoscribe_jobs_open", "Jobs not yet ended, by status", labels=["status"])
        workers = GaugeMetricFamily("endoscribe_workers_alive", "Workers whose heartbeat has not expired")
        scheduled = GaugeMetricFamily("endoscribe_webhooks_scheduled", "Callbacks with a delivery attempt to come")
        due = GaugeMetricFamily("endoscribe_webhooks_due", "Callbacks whose next attempt is due now or overdue")
        submitted = CounterMetricFamily("endoscribe_jobs_submitted", "Jobs stored, by audio container",
                                        labels=["format"])
        ended = CounterMetricFamily("endoscribe_jobs_ended", "Jobs ended, by final status and error code",
                                    labels=["status", "error_code"])
        histograms = [HistogramMetricFamily(f"endoscribe_job_{name}", HISTOGRAM_HELP[name])
                      for name in job_metrics.BUCKETS]
        if f is not None:
            for queue, count in f.waiting.items():
                waiting.add_metric([queue], count)
            unacked.add_metric([], f.unacked)
            for lane, count in f.ready.items():
                ready.add_metric([lane], count)
            for status, count in f.open_jobs.items():
                open_jobs.add_metric([status], count)
            workers.add_metric([], f.workers)
            scheduled.add_metric([], f.scheduled)
            due.add_metric([], f.due)
            for audio_format, count in sorted(f.totals.submitted.items()):
                submitted.add_metric([audio_format], count)
            for (status, code), count in sorted(f.totals.ended.items()):
                ended.add_metric([status, code], count)
            for family, name in zip(histograms, job_metrics.BUCKETS, strict=True):
                totals = f.totals.histograms[name]
                family.add_metric([], cast(list[tuple[str, float]], totals.buckets), totals.sum)
        yield from (waiting, unacked, ready, open_jobs, workers, scheduled, due, submitted, ended, *histograms)


@dataclass(frozen=True)
class _Figures:
    waiting: dict[str, int]
    unacked: int
    ready: dict[str, int]
    open_jobs: dict[str, int]
    workers: int
    scheduled: int
    due: int
    totals: job_metrics.JobTotals
