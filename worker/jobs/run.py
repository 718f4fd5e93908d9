"""One job's life inside a worker: claim, open (decode, find speech), end. Idempotent by job id.

The scheduler (`worker.schedule.loop`) drives many open jobs at once through the model; this module
owns what happens to each one of them. A run claims its job (one attempt), holds a lease on it while
it works, and ends it in one transaction. A run that cannot finish (its worker died, Redis failed,
the lease was taken over) leaves the job open; recovery (`worker.jobs.recovery`) requeues it, or fails it
once its attempts are spent. A run that cannot read the job's audio because the object store is out
puts the job back in the queue with its attempt given back: an outage is never the job's last word.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from core import keys
from core.audio_store import AudioStore, RedisAudioStore
from core.errors import AudioError, EndoScribeError, JobCancelled, NotFound, StorageUnavailable
from core.job_store import Claim, JobStore
from core.jobs import JobError, JobOptions, JobStage, JobStatus, Segment, Transcript
from core.settings import LiveSettings, WorkerSettings
from core.vocabulary import decoding_prompt
from worker.jobs.lease import LeaseKeeper
from worker.model import decoding, pipeline
from worker.model.transcriber import DecodeRequest, ModelInfo, Transcriber, Window
from worker.text import formatting, lexicon

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# After the job limit, how long a job stuck inside one uninterruptible model call may keep going
# before its lease keeper fails it and the worker process is replaced.
HARD_DEADLINE_GRACE_SECONDS = 300


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    """Nothing to do: the job ended, vanished or is held by a live run."""
    ABANDONED = "abandoned"
    """This run ended without an outcome; the job stays open for recovery."""

    @property
    def ended_job(self) -> bool:
        return self in {Outcome.COMPLETED, Outcome.FAILED, Outcome.CANCELLED}


class JobTimedOut(EndoScribeError):
    code = "job_timeout"


class LeaseLost(Exception):
    """Another run now owns the job (or it was erased): stop and write nothing."""


@dataclass
class BatchLimit:
    """The batch size this process uses now: the configured one until the accelerator runs out of
    memory, then halved (down to 1) for the rest of the process's life."""

    size: int = 0
    oom_halvings: int = 0


@dataclass
class JobContext:
    """What a worker process brings to every job."""

    store: JobStore
    models: Transcriber
    settings: WorkerSettings
    worker_name: str
    tmp_dir: Path
    on_wedged: Callable[[], None]
    """Called when a job is still inside the model past its hard deadline: the process must be replaced."""
    audio_store: AudioStore | None = None
    """Where jobs' audio is; None: in Redis beside the job (the default store)."""
    batch: BatchLimit = field(default_factory=BatchLimit)
    live: LiveSettings = field(default_factory=LiveSettings)
    """Live sessions: endpointing, limits."""

    @property
    def audio(self) -> AudioStore:
        return self.audio_store or RedisAudioStore(self.store.redis)


@dataclass
class OpenJob:
    """A claimed job whose speech windows are waiting for (or going through) the model."""

    id: str
    owner: str
    """This run's lease owner name."""
    options: JobOptions
    language: str
    audio: np.ndarray
    windows: list[Window]
    started: float
    lease: LeaseKeeper
    prompt: str | None = None
    """What the job is decoded with: the client's prompt and hotwords joined by its vocabulary."""
    hotwords: str | None = None
    guarded: bool = False
    """A window that comes out truncated (`vocabulary_guard.is_truncated`) is decoded again without the prompt."""
    key: Hashable = 0
    """Windows of jobs with different keys cannot share a batch (`Transcriber.batch_key`)."""
    texts: list[str | None] = field(default_factory=list)
    sent: int = 0
    """Windows handed to the model so far (they go in order)."""
    seq: int = 0
    """Admission order in this worker: ties in the scheduler go to the earlier job."""
    passed_over: int = 0
    """Batches in a row that ran without any of this job's windows while it had some waiting."""
    speech_found: bool = False
    """False while VAD is still looking for its speech (`windows` is empty until then)."""

    @property
    def high(self) -> bool:
        return self.options.priority == "high"

    @property
    def remaining(self) -> int:
        return len(self.windows) - self.sent

    @property
    def done(self) -> bool:
        return self.speech_found and all(t is not None for t in self.texts)

    @property
    def deadline(self) -> float:
        return self.started + self.lease.job_limit

    def request(self, index: int) -> DecodeRequest:
        """Window `index` as the model takes it, with this job's own decoding options."""
        return DecodeRequest(self.clip(index), self.language, self.prompt, self.hotwords)

    def clip(self, index: int) -> np.ndarray:
        window = self.windows[index]
        return self.audio[int(window.start * decoding.SAMPLE_RATE):int(window.end * decoding.SAMPLE_RATE)]


def claim(job_id: str, ctx: JobContext) -> str | Outcome:
    """Take the job for a run: the run's lease owner name, or the outcome when there is nothing to run."""
    # Unique per run, so two runs in one host (prefork children, a stale run) never share a lease.
    owner = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
    found = ctx.store.claim(job_id, owner, ctx.worker_name, ctx.settings.lease_seconds, ctx.settings.max_attempts)
    if found is Claim.CLAIMED:
        return owner
    if found is Claim.EXHAUSTED:
        log.error("job %s: every attempt ended with its worker dying; failed as worker_crashed", job_id)
        return Outcome.FAILED
    if found is Claim.CANCELLED:
        return Outcome.CANCELLED
    log.info("job %s: %s; skipping it", job_id, found.value)
    return Outcome.SKIPPED


def open_job(
    job_id: str, owner: str, ctx: JobContext, info: ModelInfo, seq: int, find_speech_inline_seconds: float,
) -> OpenJob | Outcome:
    """Start the lease and decode the audio, and for a recording no longer than `find_speech_inline_seconds`
    find its speech too (longer ones: `set_windows` once the caller has); a job that cannot go on is ended
    here."""
    started = time.perf_counter()
    hard_deadline = time.monotonic() + ctx.settings.job_time_limit_seconds + HARD_DEADLINE_GRACE_SECONDS

    def expire() -> None:
        error = JobError(code="job_timeout", message="the job ran far past its time limit and was stopped; "
                         "split the audio or tell the operator")
        end(job_id, owner, ctx, started, JobStatus.FAILED, error=error)
        ctx.on_wedged()

    lease = LeaseKeeper(ctx.store, job_id, owner, ctx.settings.lease_seconds, hard_deadline, expire,
                        job_limit=ctx.settings.job_time_limit_seconds).start()
    try:
        update(ctx, job_id, owner, model=info.model, device=info.device, compute_type=info.compute_type,
               batch_size=ctx.batch.size or info.batch_size)
        options = ctx.store.get(job_id).options
        audio = _load_audio(job_id, ctx)
        seconds = pipeline.check_audio(audio)
        update(ctx, job_id, owner, stage=JobStage.TRANSCRIBING, audio_seconds=round(seconds, 3))
        language = _language_for(options.language, info.language) or ctx.models.detect_language(audio)
        vocabulary = ctx.settings.vocabulary
        prompt, hotwords = decoding_prompt(options, vocabulary)
        job = OpenJob(job_id, owner, options, language, audio, [], started, lease, prompt, hotwords,
                      guarded=vocabulary.truncation_guard and bool(prompt or hotwords),
                      key=ctx.models.batch_key(language, prompt, hotwords), seq=seq)
        if seconds <= find_speech_inline_seconds:
            set_windows(job, ctx.models.speech_windows(audio))
        check_continue(job, ctx)
        return job
    except redis.RedisError:
        lease.stop()
        raise
    except Exception as exc:  # noqa: BLE001 - mapped to the job's outcome
        outcome = settle(job_id, owner, ctx, started, exc)
        lease.stop()
        return outcome


def set_windows(job: OpenJob, windows: list[Window]) -> None:
    """The job's speech, as VAD found it: its windows go to the model from now on."""
    if not windows:
        raise AudioError("no speech was found in the audio", code="no_speech")
    job.windows, job.texts = windows, [None] * len(windows)
    job.speech_found = True


def finish(job: OpenJob, ctx: JobContext) -> Outcome:
    """Every window is decoded: assemble the transcript, align it if asked, and end the job."""
    try:
        segments = [Segment(start=round(w.start, 3), end=round(w.end, 3), text=t.strip())
                    for w, t in zip(job.windows, job.texts, strict=True) if t and t.strip()]
        if not segments:
            raise AudioError("no speech was found in the audio", code="no_speech")
        transcript = Transcript(text=" ".join(s.text for s in segments), language=job.language,
                                duration=round(job.audio.size / decoding.SAMPLE_RATE, 3), segments=segments)
        if ctx.settings.align:
            check_continue(job, ctx)
            update(ctx, job.id, job.owner, stage=JobStage.ALIGNING)
            transcript = ctx.models.align(transcript, job.audio)
        check_continue(job, ctx)
        transcript = lexicon.correct_job(transcript, job.options, ctx.settings.vocabulary)
        transcript = formatting.format_transcript(transcript, job.options)
        return end(job.id, job.owner, ctx, job.started, JobStatus.COMPLETED, transcript, progress=100.0)
    except redis.RedisError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped to the job's outcome
        return settle(job.id, job.owner, ctx, job.started, exc)
    finally:
        job.lease.stop()


def stop(job: OpenJob, ctx: JobContext, exc: Exception) -> Outcome:
    """End a job the scheduler must drop (cancelled, timed out, lease lost, failed in the model)."""
    try:
        return settle(job.id, job.owner, ctx, job.started, exc)
    finally:
        job.lease.stop()


def settle(job_id: str, owner: str, ctx: JobContext, started: float, exc: Exception) -> Outcome:
    """Map why a job cannot go on to its outcome, written once."""
    if isinstance(exc, LeaseLost):
        log.warning("job %s: this run lost its lease; stopping without an outcome", job_id)
        return Outcome.ABANDONED
    if isinstance(exc, JobCancelled):
        return end(job_id, owner, ctx, started, JobStatus.CANCELLED)
    if isinstance(exc, StorageUnavailable):
        return put_back(job_id, owner, ctx)
    if isinstance(exc, EndoScribeError):
        log.info("job %s failed: %s", job_id, exc.code)
        return end(job_id, owner, ctx, started, JobStatus.FAILED, error=JobError(code=exc.code, message=exc.message))
    # The traceback names code, not content: the audio and transcript never reach the log.
    log.error("job %s failed unexpectedly", job_id, exc_info=exc)
    error = JobError(code="transcription_failed",
                     message="the transcription failed unexpectedly; submit the job again or tell the operator")
    return end(job_id, owner, ctx, started, JobStatus.FAILED, error=error)


def put_back(job_id: str, owner: str, ctx: JobContext) -> Outcome:
    """The audio store is out, which is not the job's fault: back to `queued` with this attempt given back
    (an outage longer than `max_attempts` tries must not fail it `worker_crashed`), its audio and callback
    untouched. Recovery sends it again once its grace period has passed, so a store that is down is
    tried every grace period, not in a loop."""
    log.warning("job %s: the audio store is unavailable; back in the queue for recovery to retry", job_id)
    try:
        attempts = max(0, ctx.store.get(job_id).attempts - 1)
    except NotFound:
        return Outcome.ABANDONED  # erased meanwhile
    if ctx.store.update(job_id, owner, status=JobStatus.QUEUED, stage=JobStage.QUEUED, progress=0.0,
                        worker=None, started_at=None, attempts=attempts):
        ctx.store.mark_sent(job_id)
        ctx.store.release_lock(job_id, owner)
    return Outcome.ABANDONED


def check_continue(job: OpenJob, ctx: JobContext) -> None:
    """Raise if the job must stop: lease lost, cancel asked for, time limit passed."""
    # Celery's time limits do nothing in the solo pool the GPU worker needs, so the job enforces its own.
    if job.lease.lost.is_set():
        raise LeaseLost(job.id)
    if ctx.store.is_cancel_requested(job.id):
        raise JobCancelled("the job was cancelled")
    if time.perf_counter() > job.deadline:
        raise JobTimedOut(f"the job ran past its {ctx.settings.job_time_limit_seconds} s limit; split the audio")


def update(ctx: JobContext, job_id: str, owner: str, **fields: Any) -> None:
    if not ctx.store.update(job_id, owner, **fields):
        raise LeaseLost(job_id)


def end(
    job_id: str, owner: str, ctx: JobContext, started: float, status: JobStatus,
    transcript: Transcript | None = None, **fields: Any,
) -> Outcome:
    """Record the outcome: one transaction that also deletes the audio, frees the lease and schedules
    the callback. If this run no longer owns the job, nothing is written: the run is abandoned."""
    ended = ctx.store.finish(job_id, owner, status, transcript, processing_seconds=round(
        time.perf_counter() - started, 3), **fields)
    if not ended:
        log.warning("job %s: this run no longer owns it; its outcome is dropped", job_id)
        return Outcome.ABANDONED
    return Outcome(status.value)


def _load_audio(job_id: str, ctx: JobContext) -> np.ndarray:
    data = ctx.audio.get(job_id)
    if data is None:
        raise AudioError("the job's audio is gone (expired or erased); submit it again", code="audio_missing")
    return decoding.decode_audio(data, ctx.settings.max_audio_seconds, ctx.tmp_dir)


def _language_for(requested: str | None, model_language: str | None) -> str | None:
    if requested and model_language and requested != model_language:
        raise AudioError(f"this worker's model only transcribes '{model_language}'; omit language or send "
                         f"language={model_language}", code="language_unsupported")
    return requested or model_language


def await_redis(client: redis.Redis, limit: float) -> bool:
    """Wait (bounded) until Redis accepts writes again, so the caller's next step, and Celery's ack
    after it, do not hit the same fault. True if it came back."""
    deadline = time.monotonic() + limit
    delay = 0.2
    while time.monotonic() < deadline:
        try:
            client.set(keys.PROBE, "1", px=1000)
            return True
        except redis.RedisError:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    return False
