"""Run one job from the store through the pipeline and record the outcome. Idempotent by job id."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from core.errors import AudioError, EndoScribeError, JobCancelled
from core.job_store import JobStore, utcnow
from core.jobs import FINAL_STATUSES, JobError, JobStage, JobStatus, Transcript
from core.settings import WorkerSettings
from core.webhook_store import WebhookStore, event_for
from worker import pipeline
from worker.lease import LeaseKeeper
from worker.model_manager import ModelManager

log = logging.getLogger(__name__)


class JobTimedOut(EndoScribeError):
    code = "job_timeout"


class LeaseLost(Exception):
    """Another worker now owns the job: stop and write nothing."""


# After the job limit, how long a job stuck inside one uninterruptible model call may keep going
# before its lease keeper fails it.
HARD_DEADLINE_GRACE_SECONDS = 300


@dataclass
class JobContext:
    """What a worker process brings to every job."""

    store: JobStore
    models: ModelManager
    settings: WorkerSettings
    worker_name: str
    webhooks: WebhookStore


def run_job(job_id: str, ctx: JobContext) -> str:
    """Process a job to a final status; returns what happened ("completed", "failed", "skipped", ...).

    A redelivered copy of a job that already ended, or that another worker holds, is skipped, so
    processing one id twice never yields two different results.
    """
    try:
        record = ctx.store.get(job_id)
    except EndoScribeError:
        log.info("job %s no longer exists; skipping", job_id)
        return "skipped"
    if record.status in FINAL_STATUSES:
        return "skipped"
    # Unique per run, so two runs in one host (prefork children, a stale run) never share a lease.
    owner = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
    if not ctx.store.try_lock(job_id, owner, ctx.settings.lease_seconds):
        log.warning("job %s is held by another worker; skipping this delivery", job_id)
        return "skipped"
    started = time.perf_counter()
    hard_deadline = time.monotonic() + ctx.settings.job_time_limit_seconds + HARD_DEADLINE_GRACE_SECONDS

    def expire() -> None:
        error = JobError(code="job_timeout", message="the job ran far past its time limit and was stopped; "
                         "split the audio or tell the operator")
        _end(job_id, ctx, owner, started, JobStatus.FAILED, error=error)

    try:
        with LeaseKeeper(ctx.store, job_id, owner, ctx.settings.lease_seconds, hard_deadline, expire) as lease:
            return _process(job_id, ctx, owner, lease, started)
    finally:
        ctx.store.unlock(job_id, owner)  # a no-op once the job ended: ending releases the lease


def _process(job_id: str, ctx: JobContext, owner: str, lease: LeaseKeeper, started: float) -> str:
    claimed = ctx.store.update(
        job_id, only_if={JobStatus.QUEUED, JobStatus.PROCESSING},
        status=JobStatus.PROCESSING, stage=JobStage.DECODING, progress=0.0, started_at=utcnow(),
        worker=ctx.worker_name, error=None,
    )
    if not claimed:
        return "skipped"
    deadline = started + ctx.settings.job_time_limit_seconds
    try:
        transcript = _transcribe_job(job_id, ctx, deadline, lease)
        return _end(job_id, ctx, owner, started, JobStatus.COMPLETED, transcript, progress=100.0)
    except LeaseLost:
        return "abandoned"
    except redis.RedisError as exc:
        # Not the job's fault: leave it (and its audio) for the lease to lapse and a worker to retry.
        log.warning("job %s: redis failed mid-job (%s); abandoning it for a retry", job_id, exc.__class__.__name__)
        return "abandoned"
    except JobCancelled:
        return _end(job_id, ctx, owner, started, JobStatus.CANCELLED)
    except EndoScribeError as exc:
        log.info("job %s failed: %s", job_id, exc.code)
        return _end(job_id, ctx, owner, started, JobStatus.FAILED, error=JobError(code=exc.code, message=exc.message))
    except Exception:
        # The traceback names code, not content: the audio and transcript never reach the log.
        log.exception("job %s failed unexpectedly", job_id)
        error = JobError(code="transcription_failed",
                         message="the transcription failed unexpectedly; submit the job again or tell the operator")
        return _end(job_id, ctx, owner, started, JobStatus.FAILED, error=error)


def _transcribe_job(job_id: str, ctx: JobContext, deadline: float, lease: LeaseKeeper) -> Transcript:
    models = ctx.models
    pipe = models.load()
    runtime = models.runtime
    assert runtime is not None
    ctx.store.update(job_id, model=models.model_name, device=runtime.whisperx_device,
                     compute_type=runtime.compute_type, batch_size=runtime.batch_size)
    record = ctx.store.get(job_id)
    data = ctx.store.get_audio(job_id)
    if data is None:
        raise AudioError("the job's audio is gone (expired or erased); submit it again", code="audio_missing")
    audio = pipeline.decode_audio(data)
    del data
    seconds = pipeline.check_audio(audio, ctx.settings.max_audio_seconds)
    _check_continue(job_id, ctx, deadline, lease)
    ctx.store.update(job_id, stage=JobStage.TRANSCRIBING, audio_seconds=round(seconds, 3))
    language = _language_for(record.options.language, models.language)

    def on_progress(percent: float) -> None:
        _check_continue(job_id, ctx, deadline, lease)
        ctx.store.set_progress(job_id, min(99.0, percent))

    with models.lock:
        transcript = pipeline.transcribe(
            pipe, audio, language=language, batch_size=runtime.batch_size,
            initial_prompt=record.options.initial_prompt, hotwords=record.options.hotwords,
            progress_callback=on_progress,
        )
        if not transcript.segments:
            raise AudioError("no speech was found in the audio", code="no_speech")
        if ctx.settings.align:
            _check_continue(job_id, ctx, deadline, lease)
            ctx.store.update(job_id, stage=JobStage.ALIGNING)
            model, metadata = models.aligner(transcript.language)
            transcript = pipeline.align(transcript, audio, model, metadata, runtime.whisperx_device)
    _check_continue(job_id, ctx, deadline, lease)
    return transcript


def _language_for(requested: str | None, model_language: str | None) -> str | None:
    if requested and model_language and requested != model_language:
        raise AudioError(f"this worker's model only transcribes '{model_language}'; omit language or send "
                         f"language={model_language}", code="language_unsupported")
    return requested or model_language


def _check_continue(job_id: str, ctx: JobContext, deadline: float, lease: LeaseKeeper) -> None:
    # Celery's time limits do nothing in the solo pool the GPU worker needs, so the job enforces its own.
    if lease.lost.is_set():
        raise LeaseLost(f"job {job_id} was taken over by another worker")
    if ctx.store.is_cancel_requested(job_id):
        raise JobCancelled("the job was cancelled")
    if time.perf_counter() > deadline:
        raise JobTimedOut(f"the job ran past its {ctx.settings.job_time_limit_seconds} s limit; split the audio")


def _end(
    job_id: str, ctx: JobContext, owner: str, started: float, status: JobStatus,
    transcript: Transcript | None = None, **fields: Any,
) -> str:
    """Record the outcome, delete the audio and release the lease in one step, then schedule the callback.

    If this run no longer owns the job (its lease lapsed and another worker took over), nothing is
    written and the audio stays for that worker: the run is "abandoned".
    """
    ended = ctx.store.finish(
        job_id, owner, transcript, status=status, stage=JobStage.DONE, finished_at=utcnow(),
        processing_seconds=round(time.perf_counter() - started, 3), **fields,
    )
    if not ended:
        log.warning("job %s: this run no longer owns it; its outcome is dropped", job_id)
        return "abandoned"
    _schedule_callback(ctx, job_id, event_for(status.value))
    return status.value


def _schedule_callback(ctx: JobContext, job_id: str, event: str) -> None:
    """Put the job's callback on the schedule (the deliverer takes it from there; nothing waits on a receiver).

    This is a second write after the job's final transaction, so a Redis blip here would lose the
    callback: retry for about half a minute before giving up loudly.
    """
    for attempt in range(6):
        try:
            ctx.webhooks.schedule(job_id, event)
            return
        except redis.RedisError as exc:
            log.warning("job %s: scheduling its callback failed (%s); retrying", job_id, exc.__class__.__name__)
            time.sleep(0.5 * 2**attempt)
    log.error("job %s ended but its callback could not be scheduled; POST .../webhook/redeliver sends it", job_id)
