"""The worker's scheduler: it keeps the model's batches full with speech windows of many jobs.

A round starts when a task message names a job. The scheduler claims that job, then as many other
ready jobs (`core.keys.READY`) as the admission bounds allow, decodes each and finds its speech
windows, and then, one batch at a time, picks windows across the open jobs (`worker.schedule.batching`), runs
one batched forward pass, and scatters the texts back. Between batches it admits newly ready work,
so a high-priority or short clip waits for at most the batch in flight. Each job keeps its own lease,
attempts, progress, cancellation, time limit, prompt and outcome (`worker.jobs.run`); the round
ends when no job is open and none is ready. The task messages of jobs a round took from the ready
set find them ended (or held) when they arrive and do nothing: Celery stays the transport, and a
worker killed mid-batch loses no job, since each claimed job's lease lapses and recovery requeues it.
Live sessions (`worker.live.desk`) ride along between batches until the round's time limit, when the round
hands them back and calls `wake` (the live task), so that its own task ends and the next round serves them.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import redis

from core.audio_store import discard
from core.errors import EndoScribeError, StorageUnavailable
from worker import metrics as worker_metrics
from worker.jobs import run as job_runner
from worker.jobs.run import JobContext, OpenJob, Outcome
from worker.live.desk import LiveDesk, LiveUnit
from worker.live.endpointing import CutKind
from worker.model.decoding import SAMPLE_RATE
from worker.model.pipeline import CHUNK_SECONDS
from worker.model.transcriber import DecodeRequest, ModelOutOfMemory, Window
from worker.schedule import batching
from worker.text import vocabulary_guard

log = logging.getLogger(__name__)



# A recording up to one window long has its speech found at once (tens of milliseconds); a longer one
# in a thread, while the model decodes other jobs' batches: VAD over minutes of audio takes seconds
# on a CPU, and a short clip that arrived meanwhile must not wait for it.
FIND_SPEECH_INLINE_SECONDS = 30.0
# While the only open jobs wait for their speech, or live sessions for audio, how often the round looks
# for newly ready work (and new audio).
IDLE_POLL_SECONDS = 0.05


Slot = tuple[OpenJob | LiveUnit, int]
"""One window of a batch: a job (or live unit) and the index of its window."""
Decoded = tuple[list[str | None], dict[str, Exception]]
"""A batch's texts, slot by slot, and the jobs (or units) the model failed on, by id."""


class OutOfMemory(EndoScribeError):
    code = "gpu_out_of_memory"


def run_round(seed: str | None, ctx: JobContext, wake: Callable[[], None] | None = None) -> dict[str, Outcome]:
    """Run `seed` and whatever else is ready until nothing is left; the outcome of every job touched.
    `wake` is called when the round hands live sessions back, so that another round serves them."""
    return Scheduler(ctx, wake).run(seed)


def run_job(job_id: str, ctx: JobContext) -> Outcome:
    """A round seeded by `job_id`: that job's outcome (SKIPPED when it was not this round's to run)."""
    return run_round(job_id, ctx).get(job_id, Outcome.SKIPPED)


class Scheduler:
    def __init__(self, ctx: JobContext, wake: Callable[[], None] | None = None) -> None:
        self.ctx = ctx
        self.wake = wake
        self.info = ctx.models.info()
        if ctx.batch.size < 1:
            ctx.batch.size = max(1, self.info.batch_size)
        self.jobs: list[OpenJob] = []
        self.claimed: dict[str, str] = {}
        """Job id -> lease owner, for every job this round claimed and has not ended."""
        self.outcomes: dict[str, Outcome] = {}
        alone = ctx.settings.scheduler_high_alone
        self.high_alone = self.info.device == "cpu" if alone is None else alone
        # The live sessions' looks (VAD over their new audio) run on a thread of their own, one at a
        # time as the live VAD needs: not on the file jobs' VAD thread, where a long recording's speech
        # takes seconds to find, nor on this one, where they would hold back everyone's batches.
        self.looker = ThreadPoolExecutor(1, thread_name_prefix="look")
        self.live = LiveDesk(ctx, self.info, looker=self.looker)
        self.file_window_at = 0.0
        """When the last batch of file work went (monotonic)."""
        self.units: list[LiveUnit] = []
        """Live utterances waiting for (or going through) the model: one window each, high priority."""
        self.admitted = 0
        # A round admits new work only for as long as one job may run, so its task message is acked
        # well inside the broker's visibility timeout; the next message starts a new round.
        self.admit_until = time.monotonic() + ctx.settings.job_time_limit_seconds
        self.finder = ThreadPoolExecutor(1, thread_name_prefix="vad")
        self.finding: dict[Future[list[Window]], OpenJob] = {}
        self.lanes = max(1, self.info.lanes)
        self.decoder = ThreadPoolExecutor(self.lanes, thread_name_prefix="decode")
        self.inflight: dict[Future[Decoded], list[Slot]] = {}
        """Batches the model decodes now, one per lane: the round goes on admitting work, looking at
        live sessions and launching batches on free lanes meanwhile."""

    def run(self, seed: str | None) -> dict[str, Outcome]:
        try:
            if seed is not None:
                self._admit(seed, from_ready=False)
            self._fill()
            while self.jobs or self.units or self.live.held or self.inflight:
                # Waiting on the VAD thread only when nothing else can run (live sessions always can).
                self._collect(block=not any(job.remaining for job in self.jobs) and not self.live.held
                              and not self.inflight)
                if self._land():
                    self._fill()  # what landed may have ended jobs or sessions, or a session's next unit is due
                if not self._launch():
                    self._await_lane()  # every lane is busy, or live sessions wait for audio
                self._fill()
        except (redis.RedisError, StorageUnavailable) as exc:
            self._give_up(exc)
        finally:
            self.finder.shutdown(wait=True, cancel_futures=True)
            self.decoder.shutdown(wait=True, cancel_futures=True)
            self.looker.shutdown(wait=True, cancel_futures=True)
            self._release_live()
        return self.outcomes

    # ---- admission -----------------------------------------------------------------------------

    def _fill(self) -> None:
        """Claim ready jobs while the bounds allow.

        Normal work: while fewer jobs are open than a batch has slots (so each open job can have a
        window in every batch, and a short clip never waits behind one long recording), or fewer
        windows wait than two batches hold; never past the job and window bounds. Holding no more
        than that leaves the rest of the queue to other workers. The high-priority lane: always, up
        to twice the job bound.
        """
        settings, size = self.ctx.settings, self.ctx.batch.size
        if time.monotonic() > self.admit_until:
            self._hand_over()
            return
        # Between batches, so a live utterance waits for at most the batch in flight. Partials only for
        # as many sessions as the next batch can take, so none waits and goes stale: one where batches
        # cost in proportion to their size (each further one delays a final).
        self.units = [unit for unit in self.units if unit.sent or not unit.stale]
        waiting = sum(not unit.sent for unit in self.units)
        free = self.ctx.batch.size
        if self.high_alone:
            free = self.lanes - len(self.inflight) if self.lanes == 1 else self.lanes - 1 - self._others_inflight()
        partials = max(0, free - waiting)
        self.units.extend(self.live.poll(admit=True, partials=partials))
        open_ids = {job.id for job in self.jobs}
        for job_id, high in self.ctx.store.ready_jobs(2 * settings.scheduler_max_jobs):
            if job_id in open_ids or job_id in self.outcomes:
                continue
            # Windows not decoded yet, those in flight included (they are not done with the round's capacity).
            pending = sum(job.texts.count(None) if job.speech_found else _expected_windows(job) for job in self.jobs)
            if high:
                if len(self.jobs) >= 2 * settings.scheduler_max_jobs:
                    return
            elif (len(self.jobs) >= settings.scheduler_max_jobs or pending >= settings.scheduler_max_windows
                  or (len(self.jobs) >= size and pending >= 2 * size)):
                return
            self._admit(job_id, from_ready=True)

    def _admit(self, job_id: str, from_ready: bool) -> None:
        claimed = job_runner.claim(job_id, self.ctx)
        if isinstance(claimed, Outcome):
            self.outcomes[job_id] = claimed
            if from_ready and claimed is Outcome.SKIPPED:
                self.ctx.store.forget_ready(job_id)
            return
        self.claimed[job_id] = claimed
        self.outcomes[job_id] = Outcome.ABANDONED  # until it ends
        opened = job_runner.open_job(job_id, claimed, self.ctx, self.info, self.admitted,
                                     FIND_SPEECH_INLINE_SECONDS)
        self.admitted += 1
        if isinstance(opened, Outcome):
            self._ended(job_id, opened)
            return
        self.jobs.append(opened)
        if not opened.speech_found:
            self.finding[self.finder.submit(self.ctx.models.speech_windows, opened.audio)] = opened

    def _collect(self, block: bool) -> None:
        """Give the jobs whose speech the VAD thread found their windows. With `block` (nothing else to
        decode) wait for one, but only briefly: the round must keep admitting new work meanwhile."""
        if not self.finding:
            return
        done, _ = wait(list(self.finding), timeout=IDLE_POLL_SECONDS if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            job = self.finding.pop(future)
            if job not in self.jobs:
                continue  # dropped meanwhile (cancelled, lease lost)
            try:
                job_runner.set_windows(job, future.result())
            except Exception as exc:  # noqa: BLE001 - this job fails, the others go on
                self._drop(job, exc)

    # ---- batches -------------------------------------------------------------------------------

    def _launch(self) -> bool:
        """Start a batch on every free lane; False when none started."""
        if len(self.inflight) >= self.lanes:
            return False
        # A job whose every window is in flight is settled when they land: only those whose windows (or
        # speech) are still to come are checked, not every open job each time a lane is free.
        for job in [job for job in self.jobs if job.remaining or not job.speech_found]:
            try:
                job_runner.check_continue(job, self.ctx)
            except (job_runner.LeaseLost, EndoScribeError) as exc:
                self._drop(job, exc)
        launched = False
        while len(self.inflight) < self.lanes and (slots := self._pick()):
            now = time.monotonic()
            if not isinstance(slots[0][0], LiveUnit):
                self.file_window_at = now
            worker_metrics.observe_batch(len(slots), self.ctx.batch.size)
            chosen = {item.id for item, _ in slots}
            for job in self.jobs:
                job.passed_over = 0 if job.id in chosen or not job.remaining else job.passed_over + 1
            for item, _ in slots:
                item.sent += 1
                if isinstance(item, LiveUnit):
                    item.launched_at = now
                    worker_metrics.observe_live_unit(item.cut.kind, "wait", now - item.made_at)
            self.inflight[self.decoder.submit(self._decode, slots)] = slots
            launched = True
        return launched

    def _pick(self) -> list[Slot]:
        """The next batch, or none (nothing to decode, or file work held back for live sessions)."""
        items: list[OpenJob | LiveUnit] = [*self.jobs, *self.units]
        if not (self.high_alone and self.live.held):
            return batching.pick_batch(items, self.ctx.batch.size, self.high_alone)
        # Where a batch costs in proportion to its size, a live final that comes up next waits for the
        # batches in flight: while sessions are served, everything goes a window at a time (finals
        # first: a final behind three partials would wait for all of them), and partials and file
        # windows (seconds on a CPU) leave a lane free for finals. With one lane, file work waits while
        # a session is mid-utterance, but for a window every so often.
        slots = batching.pick_batch(items, 1, True)
        if not slots or _final(slots[0][0]):
            return slots
        if self.lanes > 1:
            return slots if self._others_inflight() < self.lanes - 1 else []
        if isinstance(slots[0][0], LiveUnit) or not self.live.talking() or (
                time.monotonic() - self.file_window_at >= self.ctx.live.file_window_every_seconds):
            return slots
        return []

    def _others_inflight(self) -> int:
        """Batches in flight that are not a live final (partials, file windows)."""
        return sum(not _final(slots[0][0]) for slots in self.inflight.values())

    def _await_lane(self) -> None:
        """Wait briefly for a batch to land or a look to end (or, none running, for new work or audio)."""
        running: list[Future[Any]] = [*self.inflight, *self.live.looks()]
        if running:
            wait(running, timeout=IDLE_POLL_SECONDS, return_when=FIRST_COMPLETED)
        else:
            time.sleep(IDLE_POLL_SECONDS)

    def _land(self) -> bool:
        """Hand the texts of every finished batch to their jobs and sessions; False when none finished."""
        done = [future for future in self.inflight if future.done()]
        for future in done:
            slots = self.inflight.pop(future)
            texts, failed = future.result()
            self._apply(slots, texts, failed)
        return bool(done)

    def _apply(self, slots: Sequence[Slot], texts: Sequence[str | None], failed: dict[str, Exception]) -> None:
        now = time.monotonic()
        touched: dict[str, OpenJob] = {}
        for (item, index), text in zip(slots, texts, strict=True):
            if isinstance(item, LiveUnit):
                worker_metrics.observe_live_unit(item.cut.kind, "decode", now - item.launched_at)
                if item in self.units:
                    self.units.remove(item)
                if item.id in failed:
                    self.live.fail(item, failed[item.id])
                else:
                    self.live.deliver(item, text or "")
            elif item.id not in failed and item in self.jobs:  # not dropped while it decoded
                item.texts[index] = text or ""
                touched[item.id] = item
        for job_id, error in failed.items():
            if (dropped := next((j for j in self.jobs if j.id == job_id), None)) is not None:
                self._drop(dropped, error)
        for job in touched.values():
            if job.done:
                self.jobs.remove(job)
                self._ended(job.id, job_runner.finish(job, self.ctx))
                continue
            done = sum(t is not None for t in job.texts) / len(job.texts)
            try:
                job_runner.update(self.ctx, job.id, job.owner, progress=round(min(99.0, 100 * done), 1))
            except job_runner.LeaseLost as exc:
                self._drop(job, exc)

    def _decode(self, slots: Sequence[Slot]) -> Decoded:
        """On a lane: the batch's texts (truncated ones decoded again, see `_guard`); a job (or live
        unit) whose windows make the model fail is reported, not its batch-mates."""
        texts, failed = self._decode_isolating(slots)
        self._guard(slots, texts, failed)
        return texts, failed

    def _decode_isolating(self, slots: Sequence[Slot]) -> Decoded:
        requests = [job.request(i) for job, i in slots]
        try:
            return list(self._decode_halving(requests)), {}
        except Exception as exc:  # noqa: BLE001 - isolated below, job by job
            if len({job.id for job, _ in slots}) == 1:
                return [None] * len(slots), {slots[0][0].id: _job_error(exc)}
            first_error = exc
        log.warning("a batch failed (%s); retrying its jobs one by one", first_error.__class__.__name__)
        texts: list[str | None] = [None] * len(slots)
        failed: dict[str, Exception] = {}
        for job_id in dict.fromkeys(job.id for job, _ in slots):
            mine = [n for n, (job, _) in enumerate(slots) if job.id == job_id]
            try:
                for n, text in zip(mine, self._decode_halving([requests[n] for n in mine]), strict=True):
                    texts[n] = text
            except Exception as exc:  # noqa: BLE001 - this job fails, the others go on
                failed[job_id] = _job_error(exc)
        return texts, failed

    def _guard(self, slots: Sequence[Slot], texts: list[str | None], failed: dict[str, Exception]) -> None:
        """Decode again, without the prompt, the windows a prompt made Whisper cut short or loop on."""
        lost = [n for n, (job, i) in enumerate(slots)
                if isinstance(job, OpenJob) and job.id not in failed and job.guarded
                and vocabulary_guard.is_truncated(texts[n] or "", job.windows[i].end - job.windows[i].start)]
        if not lost:
            return
        requests = []
        for n in lost:
            job, i = slots[n]
            assert isinstance(job, OpenJob)
            requests.append(DecodeRequest(job.clip(i), job.language))
        try:
            again = self._decode_halving(requests)
        except Exception as exc:  # noqa: BLE001 - the prompted texts stand
            log.warning("re-decoding %d truncated windows failed (%s)", len(lost), exc.__class__.__name__)
            return
        for n, text in zip(lost, again, strict=True):
            texts[n] = text

    def _decode_halving(self, requests: Sequence[DecodeRequest]) -> list[str]:
        """Decode; when the accelerator runs out of memory, halve the batch (down to 1) and go on."""
        limit = self.ctx.batch
        if len(requests) > (size := limit.size):  # halved meanwhile: no need to run out of memory again
            return [text for start in range(0, len(requests), size)
                    for text in self._decode_halving(requests[start:start + size])]
        try:
            return self.ctx.models.decode(requests)
        except ModelOutOfMemory:
            if len(requests) == 1:
                raise
            limit.size = max(1, len(requests) // 2)
            limit.oom_halvings += 1
            worker_metrics.count_oom_halving()
            log.warning("out of accelerator memory at batch %d; batch size is now %d", len(requests), limit.size)
            return self._decode_halving(requests)

    # ---- endings -------------------------------------------------------------------------------

    def _drop(self, job: OpenJob, exc: Exception) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self._ended(job.id, job_runner.stop(job, self.ctx, exc))

    def _ended(self, job_id: str, outcome: Outcome) -> None:
        self.outcomes[job_id] = outcome
        self.claimed.pop(job_id, None)
        if outcome.ended_job:
            # Object storage can't join the end transaction: right after it, not when the round ends
            # (a round lasts as long as its longest job; patient audio should not).
            discard(self.ctx.audio, job_id)

    def _hand_over(self) -> None:
        """Past the round's time limit: hand its live sessions back (those whose final is in the model
        once it lands), so the round ends and its task message is acked well inside the broker's
        visibility timeout, and the next round, on this worker or another, serves them. Else a client
        that keeps talking would hold the round, and this worker, for good."""
        if not self.live.held:
            return
        flying = {unit.session.id for unit in self.units if unit.sent and _final(unit)}
        self.units = [unit for unit in self.units if unit.sent]
        if self.live.release(keep=flying):
            self._wake()

    def _release_live(self) -> None:
        """Hand back the sessions still held (a round cut short): another round or worker takes them over."""
        self.units.clear()
        try:
            released = self.live.release()
        except redis.RedisError:
            return  # their leases lapse by themselves; the recovery sweep wakes a worker for them
        if released:
            self._wake()

    def _wake(self) -> None:
        if self.wake is None:
            return
        try:
            self.wake()
        except Exception as exc:  # noqa: BLE001 - the recovery sweep wakes a worker for unserved sessions too
            log.warning("could not send the live task (%s); the recovery sweep will", exc.__class__.__name__)

    def _give_up(self, exc: redis.RedisError | StorageUnavailable) -> None:
        """Redis (or the audio store, outside any one job's run) failed: not the jobs' fault. Once Redis
        answers, release every lease this round holds, so recovery requeues those jobs at once (this run
        counted as one attempt each)."""
        log.warning("%s failed mid-round (%s); leaving %d jobs to recovery",
                    "the audio store" if isinstance(exc, StorageUnavailable) else "redis",
                    exc.__class__.__name__, len(self.claimed))
        for job in self.jobs:
            job.lease.stop()
        self.jobs.clear()
        if job_runner.await_redis(self.ctx.store.redis, self.ctx.settings.lease_seconds * 2):
            for job_id, owner in self.claimed.items():
                try:
                    self.ctx.store.release_lock(job_id, owner)
                except redis.RedisError:
                    pass  # the lease lapses by itself
        for job_id in self.claimed:
            self.outcomes[job_id] = Outcome.ABANDONED
        self.claimed.clear()


def _final(item: OpenJob | LiveUnit) -> bool:
    return isinstance(item, LiveUnit) and item.cut.kind is CutKind.FINAL


def _expected_windows(job: OpenJob) -> int:
    """Windows a job whose speech is still being found will have, at most."""
    return math.ceil(job.audio.size / SAMPLE_RATE / CHUNK_SECONDS)


def _job_error(exc: Exception) -> Exception:
    if isinstance(exc, ModelOutOfMemory):
        return OutOfMemory("the accelerator ran out of memory even for one window; tell the operator")
    return exc
