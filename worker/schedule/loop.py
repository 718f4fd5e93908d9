"""The worker's scheduling round: it keeps the model's batches full with speech windows of many jobs.

A round starts when a task message names a job (or, the live task, none). It drives work sources
(`worker.schedule.work`) and knows nothing else of them: file jobs (`worker.schedule.file_work`: the
seed job, then as many other ready jobs as the admission bounds allow) and live sessions
(`worker.schedule.live_work`). One batch at a time it picks windows across every source's items
(`worker.schedule.batching`), runs one batched forward pass (`worker.schedule.batch_decoder`) and
hands each source the texts of its own windows. Between batches the sources take new work, so a
high-priority or short clip, or a live utterance, waits for at most the batch in flight. Each job
keeps its own lease, attempts, progress, cancellation, time limit, prompt and outcome
(`worker.jobs.run`); the round ends when no source has work open. The task messages of jobs a round
took from the ready set find them ended (or held) when they arrive and do nothing: Celery stays the
transport, and a worker killed mid-batch loses no job, since each claimed job's lease lapses and
recovery requeues it. Past the round's time limit the sources take no new work and the live
sessions are handed back (with `wake`, the live task), so that its own task ends and the next round
serves them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import redis

from core.errors import StorageUnavailable
from worker import metrics as worker_metrics
from worker.context import JobContext
from worker.jobs.run import RunOutcome
from worker.schedule import batching
from worker.schedule.batch_decoder import BatchDecoder
from worker.schedule.file_work import FileWork
from worker.schedule.live_work import LiveWork
from worker.schedule.work import Decoded, Slot, WorkItem, WorkSource

log = logging.getLogger(__name__)

# While the only open jobs wait for their speech, or live sessions for audio, how often the round looks
# for newly ready work (and new audio).
IDLE_POLL_SECONDS = 0.05
LANE_KEPT_AFTER_SERVING_SECONDS = 30.0
"""Where batches cost in proportion to their size, a round that served a live session this recently
goes on as while serving (a window at a time, a lane kept free of file work): sessions come and go,
and the next one's first final should not wait for two file batches of four windows."""


def run_round(seed: str | None, ctx: JobContext, wake: Callable[[], None] | None = None) -> dict[str, RunOutcome]:
    """Run `seed` and whatever else is ready until nothing is left; the outcome of every job touched.
    `wake` is called when the round hands live sessions back, so that another round serves them."""
    return Round(ctx, wake).run(seed)


def run_job(job_id: str, ctx: JobContext) -> RunOutcome:
    """A round seeded by `job_id`: that job's outcome (SKIPPED when it was not this round's to run)."""
    return run_round(job_id, ctx).get(job_id, RunOutcome.SKIPPED)


class Round:
    """One scheduling round: every work source's windows through the model's lanes, batch by batch."""

    def __init__(self, ctx: JobContext, wake: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        info = ctx.models.info()
        if ctx.batch.size < 1:
            ctx.batch.size = max(1, info.batch_size)
        alone = ctx.settings.tuning.scheduler_high_alone
        self.high_alone = info.device == "cpu" if alone is None else alone
        self.files = FileWork(ctx, info)
        self.sources: tuple[WorkSource[Any], ...] = (LiveWork(ctx, info, wake), self.files)
        """Live sessions first: they take new work first (a session that ends becomes a job, which the
        file source claims in the same pass) and have their texts first (a final does not wait for the
        transcript assembly of a file job completing in the same batch). File jobs' items come first in
        the batch order, and file jobs let go first when the round ends (they wait for Redis to come
        back, so the sessions can be handed back after them)."""
        self.file_window_at = 0.0
        """When the last batch of unpaced work (file windows) went (monotonic)."""
        self.served_at = -LANE_KEPT_AFTER_SERVING_SECONDS
        """When the round last served a live session (monotonic)."""
        # A round admits new work only for as long as one job may run, so its task message is acked
        # well inside the broker's visibility timeout; the next message starts a new round.
        self.admit_until = time.monotonic() + ctx.settings.job_time_limit_seconds
        self.lanes = max(1, info.lanes)
        self.decoder = BatchDecoder(ctx.models, ctx.batch)
        self.lane_pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="decode")
        self.inflight: dict[Future[Decoded], list[Slot]] = {}
        """Batches the model decodes now, one per lane: the round goes on admitting work, looking at
        live sessions and launching batches on free lanes meanwhile."""
        self.sources_of: dict[Future[Decoded], list[WorkSource[Any]]] = {}
        """The source of each slot of a batch in flight: its text goes back there."""

    def run(self, seed: str | None) -> dict[str, RunOutcome]:
        fault: Exception | None = None
        try:
            if seed is not None:
                self.files.admit(seed, from_ready=False)
            self._refill()
            while any(source.open for source in self.sources) or self.inflight:
                for source in self.sources:
                    source.collect()
                if self._land():
                    self._refill()  # what landed may have ended jobs or sessions, or a session's next unit is due
                if not self._launch():
                    self._wait()  # every lane is busy, or live sessions wait for audio
                self._refill()
        except (redis.RedisError, StorageUnavailable) as exc:
            fault = exc
        finally:
            self.lane_pool.shutdown(wait=True, cancel_futures=True)
            for source in reversed(self.sources):
                source.close(fault)
        return self.files.outcomes

    def _refill(self) -> None:
        """Let every source take new work, while the round admits any."""
        if time.monotonic() > self.admit_until:
            for source in self.sources:
                source.wind_down()
            return
        room = self.ctx.batch.size
        if self.high_alone:
            # Where batches cost in proportion to their size, each further one delays a final: room
            # for as many as there are free lanes (one kept free for finals where there are several).
            room = self.lanes - len(self.inflight) if self.lanes == 1 else self.lanes - 1 - self._others_inflight()
        for source in self.sources:
            source.refill(room)

    def _launch(self) -> bool:
        """Start a batch on every free lane; False when none started."""
        if len(self.inflight) >= self.lanes:
            return False
        source_of: dict[int, WorkSource[Any]] = {}
        items: list[WorkItem] = []
        for source in reversed(self.sources):
            for item in source.check():
                source_of[id(item)] = source
                items.append(item)
        launched = False
        while len(self.inflight) < self.lanes and (slots := self._pick(items)):
            now = time.monotonic()
            if not slots[0][0].paced:
                self.file_window_at = now
            worker_metrics.observe_batch(len(slots), self.ctx.batch.size)
            sources = [source_of[id(item)] for item, _ in slots]
            for source in self.sources:
                source.launched([slot for slot, of in zip(slots, sources, strict=True) if of is source], now)
            future = self.lane_pool.submit(self.decoder.decode, slots)
            self.inflight[future], self.sources_of[future] = slots, sources
            launched = True
        return launched

    def _pick(self, items: Sequence[WorkItem]) -> list[Slot]:
        """The next batch, or none (nothing to decode, or unpaced work held back for paced work)."""
        now = time.monotonic()
        if serving := any(source.serving for source in self.sources):
            self.served_at = now
        if not (self.high_alone and now - self.served_at < LANE_KEPT_AFTER_SERVING_SECONDS):
            return batching.pick_batch(items, self.ctx.batch.size, self.high_alone)
        # Where a batch costs in proportion to its size, a live final that comes up next waits for the
        # batches in flight: while sessions are served (or were, lately: the next one's first final),
        # everything goes a window at a time (finals first: a final behind three partials would wait
        # for all of them; a CPU decodes four windows in one batch no faster than one after another),
        # and partials and file windows (seconds on a CPU) leave a lane free for finals (a partial, only
        # a preview, waits while a final decodes: finals come in bursts when sessions start together,
        # and a partial on the second lane made the next one wait for it). While a
        # session is mid-utterance, file work waits but for a window every so often, with any number of
        # lanes: a file window always on the second lane would leave every session's finals one lane.
        slots = batching.pick_batch(items, 1, True)
        if not slots or slots[0][0].final:
            return slots
        if self._lanes_full_of_others() or (slots[0][0].paced and self._finals_inflight()):
            return []  # a partial waits while a final decodes: the next final finds the other lane free
        if slots[0][0].paced or not (serving and any(source.talking for source in self.sources)) or (
                now - self.file_window_at >= self.ctx.live.tuning.file_window_every_seconds):
            return slots
        return []

    def _lanes_full_of_others(self) -> bool:
        """Every lane but the one kept for finals has a batch that is not a live final (one lane: none kept)."""
        return self.lanes > 1 and self._others_inflight() >= self.lanes - 1

    def _finals_inflight(self) -> int:
        """Batches in flight that a live final leads."""
        return len(self.inflight) - self._others_inflight()

    def _others_inflight(self) -> int:
        """Batches in flight that are not a live final (partials, file windows)."""
        return sum(not slots[0][0].final for slots in self.inflight.values())

    def _wait(self) -> None:
        """Wait briefly for a batch to land or work off the round's thread to end (or, none running, for
        new work or audio)."""
        running: list[Future[Any]] = [*self.inflight, *(f for source in self.sources for f in source.waits())]
        if running:
            wait(running, timeout=IDLE_POLL_SECONDS, return_when=FIRST_COMPLETED)
        else:
            time.sleep(IDLE_POLL_SECONDS)

    def _land(self) -> bool:
        """Hand the texts of every finished batch to their sources; False when none finished."""
        done = [future for future in self.inflight if future.done()]
        for future in done:
            slots, sources = self.inflight.pop(future), self.sources_of.pop(future)
            texts, failed = future.result()
            for source in self.sources:
                mine = [n for n, of in enumerate(sources) if of is source]
                source.land([slots[n] for n in mine], [texts[n] for n in mine], failed)
        return bool(done)
