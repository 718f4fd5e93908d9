"""Run one job from the store through a transcriber and record the outcome. Idempotent by job id.

A run claims the job (one attempt), holds a lease on it while it works, and ends it in one
transaction. A run that cannot finish (its worker died, Redis failed, the lease was taken over)
leaves the job open; recovery (`worker.recovery`) requeues it, or fails it once its attempts are spent.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from core import keys
from core.audio_store import AudioStore, RedisAudioStore, discard
from core.errors import AudioError, EndoScribeError, JobCancelled
from core.job_store import Claim, JobStore
from core.jobs import JobError, JobStage, JobStatus, Transcript
from core.settings import WorkerSettings
from core.vocabulary import decoding_prompt
from worker import decoding, formatting, lexicon, pipeline, vocabulary_guard
from worker.lease import LeaseKeeper
from worker.transcriber import Transcriber

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

    @property
    def audio(self) -> AudioStore:
        return self.audio_store or RedisAudioStore(self.store.redis)


def run_job(job_id: str, ctx: JobContext) -> Outcome:
    """Process a job to a final status, or leave it open for recovery if this run cannot."""
    outcome = _run(job_id, ctx)
    if outcome.ended_job:
        discard(ctx.audio, job_id)  # object storage can't join the end transaction: right after it
    return outcome


def _run(job_id: str, ctx: JobContext) -> Outcome:
    # Unique per run, so two runs in one host (prefork children, a stale run) never share a lease.
    owner = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
    try:
        claim = ctx.store.claim(job_id, owner, ctx.worker_name, ctx.settings.lease_seconds,
                                ctx.settings.max_attempts)
    except redis.RedisError as exc:
        # Nothing was claimed; the job is still queued and recovery sends it again.
        log.warning("job %s: redis failed at claim (%s)", job_id, exc.__class__.__name__)
        _await_redis(ctx.store.redis, ctx.settings.lease_seconds * 2)
        return Outcome.ABANDONED
    if claim is Claim.EXHAUSTED:
        log.error("job %s: every attempt ended with its worker dying; failed as worker_crashed", job_id)
        return Outcome.FAILED
    if claim is Claim.CANCELLED:
        return Outcome.CANCELLED
    if claim is not Claim.CLAIMED:
        log.info("job %s: %s; skipping this delivery", job_id, claim.value)
        return Outcome.SKIPPED
    started = time.perf_counter()
    hard_deadline = time.monotonic() + ctx.settings.job_time_limit_seconds + HARD_DEADLINE_GRACE_SECONDS

    def expire() -> None:
        error = JobError(code="job_timeout", message="the job ran far past its time limit and was stopped; "
                         "split the audio or tell the operator")
        _end(job_id, ctx, owner, started, JobStatus.FAILED, error=error)
        ctx.on_wedged()

    with LeaseKeeper(ctx.store, job_id, owner, ctx.settings.lease_seconds, hard_deadline, expire) as lease:
        try:
            return _process(job_id, ctx, owner, lease, started)
        except redis.RedisError as exc:
            # Not the job's fault. Once Redis answers again, give the run up without an outcome so
            # recovery requeues the job at once (this run counted as one attempt).
            log.warning("job %s: redis failed mid-job (%s); leaving it to recovery", job_id,
                        exc.__class__.__name__)
            if _await_redis(ctx.store.redis, ctx.settings.lease_seconds * 2):
                try:
                    ctx.store.release_lock(job_id, owner)
                except redis.RedisError:
                    pass  # the lease lapses by itself
            return Outcome.ABANDONED


def _process(job_id: str, ctx: JobContext, owner: str, lease: LeaseKeeper, started: float) -> Outcome:
    deadline = started + ctx.settings.job_time_limit_seconds
    try:
        transcript = _transcribe_job(job_id, ctx, owner, deadline, lease)
        return _end(job_id, ctx, owner, started, JobStatus.COMPLETED, transcript, progress=100.0)
    except LeaseLost:
        log.warning("job %s: this run lost its lease; stopping without an outcome", job_id)
        return Outcome.ABANDONED
    except JobCancelled:
        return _end(job_id, ctx, owner, started, JobStatus.CANCELLED)
    except EndoScribeError as exc:
        log.info("job %s failed: %s", job_id, exc.code)
        return _end(job_id, ctx, owner, started, JobStatus.FAILED, error=JobError(code=exc.code, message=exc.message))
    except redis.RedisError:
        raise
    except Exception:
        # The traceback names code, not content: the audio and transcript never reach the log.
        log.exception("job %s failed unexpectedly", job_id)
        error = JobError(code="transcription_failed",
                         message="the transcription failed unexpectedly; submit the job again or tell the operator")
        return _end(job_id, ctx, owner, started, JobStatus.FAILED, error=error)


def _transcribe_job(job_id: str, ctx: JobContext, owner: str, deadline: float, lease: LeaseKeeper) -> Transcript:
    info = ctx.models.info()
    _update(ctx, job_id, owner, model=info.model, device=info.device, compute_type=info.compute_type,
            batch_size=info.batch_size)
    record = ctx.store.get(job_id)
    audio = _load_audio(job_id, ctx)
    seconds = pipeline.check_audio(audio)
    _check_continue(job_id, ctx, deadline, lease)
    _update(ctx, job_id, owner, stage=JobStage.TRANSCRIBING, audio_seconds=round(seconds, 3))
    language = _language_for(record.options.language, info.language)

    def on_progress(percent: float) -> None:
        _check_continue(job_id, ctx, deadline, lease)
        _update(ctx, job_id, owner, progress=round(min(99.0, percent), 1))

    vocabulary = ctx.settings.vocabulary
    prompt, hotwords = decoding_prompt(record.options, vocabulary)
    transcript = vocabulary_guard.transcribe_guarded(ctx.models, audio, language=language, initial_prompt=prompt,
                                                     hotwords=hotwords, progress_callback=on_progress,
                                                     enabled=vocabulary.truncation_guard)
    if not transcript.segments:
        raise AudioError("no speech was found in the audio", code="no_speech")
    if ctx.settings.align:
        _check_continue(job_id, ctx, deadline, lease)
        _update(ctx, job_id, owner, stage=JobStage.ALIGNING)
        transcript = ctx.models.align(transcript, audio)
    _check_continue(job_id, ctx, deadline, lease)
    transcript = lexicon.correct_job(transcript, record.options, vocabulary)
    return formatting.format_transcript(transcript, record.options)


def _load_audio(job_id: str, ctx: JobContext) -> np.ndarray:
    data = ctx.audio.get(job_id)
    if data is None:
        raise AudioError("the job's audio is gone (expired or erased); submit it again", code="audio_missing")
    return decoding.decode_audio(data, ctx.settings.max_audio_seconds, ctx.tmp_dir)


def _update(ctx: JobContext, job_id: str, owner: str, **fields: Any) -> None:
    if not ctx.store.update(job_id, owner, **fields):
        raise LeaseLost(job_id)


def _language_for(requested: str | None, model_language: str | None) -> str | None:
    if requested and model_language and requested != model_language:
        raise AudioError(f"this worker's model only transcribes '{model_language}'; omit language or send "
                         f"language={model_language}", code="language_unsupported")
    return requested or model_language


def _check_continue(job_id: str, ctx: JobContext, deadline: float, lease: LeaseKeeper) -> None:
    # Celery's time limits do nothing in the solo pool the GPU worker needs, so the job enforces its own.
    if lease.lost.is_set():
        raise LeaseLost(job_id)
    if ctx.store.is_cancel_requested(job_id):
        raise JobCancelled("the job was cancelled")
    if time.perf_counter() > deadline:
        raise JobTimedOut(f"the job ran past its {ctx.settings.job_time_limit_seconds} s limit; split the audio")


def _end(
    job_id: str, ctx: JobContext, owner: str, started: float, status: JobStatus,
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


def _await_redis(client: redis.Redis, limit: float) -> bool:
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
