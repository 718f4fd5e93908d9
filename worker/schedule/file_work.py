"""File jobs as a work source of the round: admission from the ready set, open jobs, their endings.

A round claims its seed job, then as many other ready jobs (`core.keys.READY`) as the admission bounds
allow; each is opened (`worker.jobs.run`), its speech found (inline for a short clip, on the VAD
thread for a long one), and its windows handed to the model batch by batch. A job whose windows are
all decoded is completed; one that must stop (cancelled, timed out, lease lost, failed in the model)
is stopped; its outcome is written once, by the job's run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import redis

from core.errors import EndoScribeError, StorageUnavailable
from worker.context import JobContext
from worker.jobs import run as job_run
from worker.jobs.open_job import OpenJob
from worker.jobs.run import LeaseLost, RunOutcome
from worker.model.decoding import SAMPLE_RATE
from worker.model.pipeline import CHUNK_SECONDS
from worker.model.transcriber import ModelInfo, Window, WindowText

log = logging.getLogger(__name__)

_EMPTY = WindowText("")

# A recording up to one window long has its speech found at once (tens of milliseconds); a longer one
# in a thread, while the model decodes other jobs' batches: VAD over minutes of audio takes seconds
# on a CPU, and a short clip that arrived meanwhile must not wait for it.
FIND_SPEECH_INLINE_SECONDS = 30.0


class FileWork:
    """The file jobs one round has open, and the outcome of every job it touched."""

    serving = False
    talking = False

    def __init__(self, ctx: JobContext, info: ModelInfo) -> None:
        self.ctx = ctx
        self.info = info
        self.jobs: list[OpenJob] = []
        self.holders: dict[str, str] = {}
        """Job id -> lease holder, for every job this round claimed and has not ended."""
        self.outcomes: dict[str, RunOutcome] = {}
        self.admitted = 0
        self.finder = ThreadPoolExecutor(1, thread_name_prefix="vad")
        self.finding: dict[Future[list[Window]], OpenJob] = {}

    @property
    def open(self) -> bool:
        return bool(self.jobs)

    def refill(self, room: int) -> None:
        """Claim ready jobs while the bounds allow.

        Normal work: while fewer jobs are open than a batch has slots (so each open job can have a
        window in every batch, and a short clip never waits behind one long recording), or fewer
        windows wait than two batches hold; never past the job and window bounds. Holding no more
        than that leaves the rest of the queue to other workers. The high-priority lane: always, up
        to twice the job bound.
        """
        tuning, size = self.ctx.settings.tuning, self.ctx.batch.size
        open_ids = {job.id for job in self.jobs}
        for job_id, high in self.ctx.store.ready_jobs(2 * tuning.scheduler_max_jobs):
            if job_id in open_ids or job_id in self.outcomes:
                continue
            # Windows not decoded yet, those in flight included (they are not done with the round's capacity).
            pending = sum(job.texts.count(None) if job.speech_found else _expected_windows(job) for job in self.jobs)
            if high:
                if len(self.jobs) >= 2 * tuning.scheduler_max_jobs:
                    return
            elif (len(self.jobs) >= tuning.scheduler_max_jobs or pending >= tuning.scheduler_max_windows
                  or (len(self.jobs) >= size and pending >= 2 * size)):
                return
            self.admit(job_id, from_ready=True)

    def admit(self, job_id: str, from_ready: bool) -> None:
        claimed = job_run.claim(job_id, self.ctx)
        if isinstance(claimed, RunOutcome):
            self.outcomes[job_id] = claimed
            if from_ready and claimed is RunOutcome.SKIPPED:
                self.ctx.store.forget_ready(job_id)
            return
        self.holders[job_id] = claimed
        self.outcomes[job_id] = RunOutcome.ABANDONED  # until it ends
        opened = job_run.open_job(job_id, claimed, self.ctx, self.info, self.admitted, FIND_SPEECH_INLINE_SECONDS)
        self.admitted += 1
        if isinstance(opened, RunOutcome):
            self._ended(job_id, opened)
            return
        self.jobs.append(opened)
        if not opened.speech_found:
            self.finding[self.finder.submit(self.ctx.models.speech_windows, opened.audio)] = opened

    def wind_down(self) -> None:
        """Past the round's time limit the open jobs run to their end; no new ones are claimed."""

    def collect(self) -> None:
        """Give the jobs whose speech the VAD thread found their windows."""
        for future in [future for future in self.finding if future.done()]:
            job = self.finding.pop(future)
            if job not in self.jobs:
                continue  # dropped meanwhile (cancelled, lease lost)
            try:
                job_run.set_windows(job, future.result())
            except Exception as exc:  # noqa: BLE001 - this job fails, the others go on
                self._drop(job, exc)

    def check(self) -> Sequence[OpenJob]:
        # A job whose every window is in flight is dealt with when they land: only those whose windows (or
        # speech) are still to come are checked, not every open job each time a lane is free.
        for job in [job for job in self.jobs if job.remaining or not job.speech_found]:
            try:
                job_run.check_continue(job, self.ctx)
            except (LeaseLost, EndoScribeError) as exc:
                self._drop(job, exc)
        return self.jobs

    def launched(self, slots: Sequence[tuple[OpenJob, int]], now: float) -> None:
        chosen = {item.id for item, _ in slots}
        for job in self.jobs:
            job.passed_over = 0 if job.id in chosen or not job.remaining else job.passed_over + 1
        for item, _ in slots:
            item.sent += 1

    def land(self, slots: Sequence[tuple[OpenJob, int]], texts: Sequence[WindowText | None],
             failed: dict[str, Exception]) -> None:
        touched: dict[str, OpenJob] = {}
        for (item, index), text in zip(slots, texts, strict=True):
            if item.id not in failed and item in self.jobs:  # not dropped while it decoded
                item.land(index, text or _EMPTY)
                touched[item.id] = item
        for job_id, error in failed.items():
            if (dropped := next((j for j in self.jobs if j.id == job_id), None)) is not None:
                self._drop(dropped, error)
        for job in touched.values():
            if job.done:
                self.jobs.remove(job)
                self._ended(job.id, job_run.complete(job, self.ctx))
                continue
            done = sum(t is not None for t in job.texts) / len(job.texts)
            try:
                job_run.update(self.ctx, job.id, job.holder, progress=round(min(99.0, 100 * done), 1))
            except LeaseLost as exc:
                self._drop(job, exc)

    def waits(self) -> list[Future[Any]]:
        return [future for future in self.finding if not future.done()]

    def close(self, fault: Exception | None) -> None:
        if fault is not None:
            _give_up(self, fault)  # first: recovery may requeue the jobs while a long VAD winds down
        self.finder.shutdown(wait=True, cancel_futures=True)

    def _drop(self, job: OpenJob, exc: Exception) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self._ended(job.id, job_run.stop(job, self.ctx, exc))

    def _ended(self, job_id: str, outcome: RunOutcome) -> None:
        self.outcomes[job_id] = outcome
        self.holders.pop(job_id, None)


def _give_up(work: FileWork, exc: Exception) -> None:
    """Redis (or the audio store, outside any one job's run) failed: not the jobs' fault. Once Redis
    answers, release every lease this round holds, so recovery requeues those jobs at once (this run
    counted as one attempt each)."""
    ctx = work.ctx
    log.warning("%s failed mid-round (%s); leaving %d jobs to recovery",
                "the audio store" if isinstance(exc, StorageUnavailable) else "redis",
                exc.__class__.__name__, len(work.holders))
    for job in work.jobs:
        ctx.leases.drop(job.lease)
    work.jobs.clear()
    if job_run.await_redis(ctx.store.redis, ctx.settings.lease_seconds * 2):
        for job_id, holder in work.holders.items():
            try:
                ctx.store.release_lease(job_id, holder)
            except redis.RedisError:
                pass  # the lease lapses by itself
    for job_id in work.holders:
        work.outcomes[job_id] = RunOutcome.ABANDONED
    work.holders.clear()


def _expected_windows(job: OpenJob) -> int:
    """Windows a job whose speech is still being found will have, at most."""
    return math.ceil(job.audio.size / SAMPLE_RATE / CHUNK_SECONDS)
