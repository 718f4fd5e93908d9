"""Run one job from the store through the pipeline and record the outcome. Idempotent by job id."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from core.errors import AudioError, EndoScribeError, JobCancelled
from core.job_store import JobStore, utcnow
from core.jobs import FINAL_STATUSES, JobError, JobStage, JobStatus
from core.settings import WorkerSettings
from webhooks.payloads import event_for
from webhooks.store import WebhookStore
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
    if not ctx.store.try_lock(job_id, ctx.worker_name, ctx.settings.lease_seconds):
        log.warning("job %s is held by another worker; skipping this delivery", job_id)
        return "skipped"
    hard_deadline = time.monotonic() + ctx.settings.job_time_limit_seconds + HARD_DEADLINE_GRACE_SECONDS
    outcome = "failed"
    try:
        with LeaseKeeper(ctx.store, job_id, ctx.worker_name, ctx.settings.lease_seconds, hard_deadline) as lease:
            outcome = _process(job_id, ctx, lease)
            return outcome
    finally:
        if outcome != "abandoned":
            # Audio is patient data: it goes when the job ends, whatever the outcome. An abandoned
            # job is not over: the worker that took it over still needs its audio.
            ctx.store.delete_audio(job_id)
        ctx.store.unlock(job_id, ctx.worker_name)


def _process(job_id: str, ctx: JobContext, lease: LeaseKeeper) -> str:
    started = time.perf_counter()
    claimed = ctx.store.update(
        job_id, only_if={JobStatus.QUEUED, JobStatus.PROCESSING},
        status=JobStatus.PROCESSING, stage=JobStage.DECODING, progress=0.0, started_at=utcnow(),
        worker=ctx.worker_name, error=None,
    )
    if not claimed:
        return "skipped"
    deadline = started + ctx.settings.job_time_limit_seconds
    try:
        _transcribe_job(job_id, ctx, deadline, lease)
        _finish(job_id, ctx, started, JobStatus.COMPLETED, progress=100.0)
        return "completed"
    except LeaseLost:
        return "abandoned"
    except JobCancelled:
        _finish(job_id, ctx, started, JobStatus.CANCELLED)
        return "cancelled"
    except EndoScribeError as exc:
        log.info("job %s failed: %s", job_id, exc.code)
        _finish(job_id, ctx, started, JobStatus.FAILED, error=JobError(code=exc.code, message=exc.message))
        return "failed"
    except Exception:
        # The traceback names code, not content: the audio and transcript never reach the log.
        log.exception("job %s failed unexpectedly", job_id)
        error = JobError(code="transcription_failed",
                         message="the transcription failed unexpectedly; submit the job again or tell the operator")
        _finish(job_id, ctx, started, JobStatus.FAILED, error=error)
        return "failed"


def _transcribe_job(job_id: str, ctx: JobContext, deadline: float, lease: LeaseKeeper) -> None:
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
    ctx.store.save_result(job_id, transcript)


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


def _finish(job_id: str, ctx: JobContext, started: float, status: JobStatus, **fields: Any) -> None:
    ended = ctx.store.update(
        job_id, only_if={JobStatus.PROCESSING}, status=status, stage=JobStage.DONE, finished_at=utcnow(),
        processing_seconds=round(time.perf_counter() - started, 3), **fields,
    )
    if ended:
        # The deliverer picks it up from the schedule; transcription never waits on a receiver.
        ctx.webhooks.schedule(job_id, event_for(status.value))
