"""One job's run inside a worker: claim, open (decode, find speech), then complete or stop. Idempotent by job id.

The scheduler (`worker.schedule.loop`) drives many open jobs at once through the model; this module
owns what happens to each one of them. A run claims its job (one attempt), holds a lease on it while
it works, and ends it in one transaction (`_end`): `complete` when every window is decoded,
`stop` when it cannot go on. A run that cannot finish (its worker died, Redis failed,
the lease was taken over) leaves the job open; recovery (`worker.jobs.recovery`) requeues it, or fails it
once its attempts are spent. A run that cannot read the job's audio because the object store is out
puts the job back in the queue with its attempt given back: an outage is never the job's last word.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import redis

from core import keys, review
from core.errors import AudioError, EndoScribeError, ErrorCode, JobCancelled, StorageUnavailable
from core.job_store import Claim
from core.jobs import JobError, JobStage, JobStatus, Segment, Transcript, Word
from core.vocabulary import decoding_prompt
from worker.context import JobContext
from worker.jobs.open_job import OpenJob
from worker.model import decoding, pipeline
from worker.model.transcriber import ModelInfo, Window, WindowText
from worker.text import dictating, findings_reading, lexicon

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# After the job limit, how long a job stuck inside one uninterruptible model call may keep going
# before the lease renewer fails it and the worker process is replaced.
HARD_DEADLINE_GRACE_SECONDS = 300


class RunOutcome(StrEnum):
    """How one run of a job in this worker ended (not a webhook delivery's outcome)."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    """Nothing to do: the job ended, vanished or is held by a live run."""
    ABANDONED = "abandoned"
    """This run ended without an outcome; the job stays open for recovery."""

    @property
    def ended_job(self) -> bool:
        return self in {RunOutcome.COMPLETED, RunOutcome.FAILED, RunOutcome.CANCELLED}


class JobTimedOut(EndoScribeError):
    code = ErrorCode.JOB_TIMEOUT


class LeaseLost(Exception):
    """Another run now holds the job's lease (or it was erased): stop and write nothing."""


def claim(job_id: str, ctx: JobContext) -> str | RunOutcome:
    """Take the job for a run: the run's lease holder name, or the outcome when there is nothing to run."""
    # Unique per run, so two runs in one host (prefork children, a stale run) never share a lease.
    holder = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
    found = ctx.store.claim(job_id, holder, ctx.worker_name, ctx.settings.lease_seconds, ctx.settings.max_attempts)
    if found is Claim.CLAIMED:
        return holder
    if found is Claim.EXHAUSTED:
        log.error("job %s: every attempt ended with its worker dying; failed as worker_crashed", job_id)
        return RunOutcome.FAILED
    if found is Claim.CANCELLED:
        return RunOutcome.CANCELLED
    log.info("job %s: %s; skipping it", job_id, found.value)
    return RunOutcome.SKIPPED


def open_job(
    job_id: str, holder: str, ctx: JobContext, info: ModelInfo, seq: int, find_speech_inline_seconds: float,
) -> OpenJob | RunOutcome:
    """Hold the lease and decode the audio, and for a recording no longer than `find_speech_inline_seconds`
    find its speech too (longer ones: `set_windows` once the caller has); a job that cannot go on is
    stopped here."""
    started = time.perf_counter()
    hard_deadline = time.monotonic() + ctx.settings.job_time_limit_seconds + HARD_DEADLINE_GRACE_SECONDS

    def expire() -> None:
        error = JobError(code=ErrorCode.JOB_TIMEOUT, message="the job ran far past its time limit and was stopped; "
                         "split the audio or tell the operator")
        _end(job_id, holder, ctx, started, JobStatus.FAILED, error=error)
        ctx.on_wedged()

    lease = ctx.leases.hold_job(job_id, holder, hard_deadline, expire)
    try:
        update(ctx, job_id, holder, model=info.model, device=info.device, compute_type=info.compute_type,
               batch_size=ctx.batch.size or info.batch_size)
        options = ctx.store.get(job_id).options
        audio = _load_audio(job_id, ctx)
        seconds = pipeline.check_audio(audio)
        update(ctx, job_id, holder, stage=JobStage.TRANSCRIBING, audio_seconds=round(seconds, 3))
        language = _language_for(options.language, info.language) or ctx.models.detect_language(audio)
        vocabulary = ctx.settings.vocabulary
        prompt, hotwords = decoding_prompt(options, vocabulary)
        job = OpenJob(job_id, holder, options, language, audio, [], started, lease,
                      ctx.settings.job_time_limit_seconds, prompt, hotwords,
                      guarded=vocabulary.tuning.truncation_guard and bool(prompt or hotwords),
                      key=ctx.models.batch_key(language, prompt, hotwords), seq=seq, words=ctx.settings.words)
        if seconds <= find_speech_inline_seconds:
            set_windows(job, ctx.models.speech_windows(audio))
        check_continue(job, ctx)
        return job
    except redis.RedisError:
        ctx.leases.drop(lease)
        raise
    except Exception as exc:  # noqa: BLE001 - mapped to the job's outcome
        outcome = _stop(job_id, holder, ctx, started, exc)
        ctx.leases.drop(lease)
        return outcome


def set_windows(job: OpenJob, windows: list[Window]) -> None:
    """The job's speech, as VAD found it: its windows go to the model from now on."""
    if not windows:
        raise AudioError("no speech was found in the audio", code=ErrorCode.NO_SPEECH)
    job.windows, job.texts, job.decoded = windows, [None] * len(windows), [None] * len(windows)
    job.speech_found = True


def complete(job: OpenJob, ctx: JobContext) -> RunOutcome:
    """Every window is decoded: assemble the transcript, align it if asked, and end the job."""
    try:
        segments = [_segment(w, d) for w, d in zip(job.windows, job.decoded, strict=True) if d and d.text.strip()]
        loudness = _loudness(job.audio)
        # Text over digital silence, which nobody said, is not delivered (bench/review.py measures it).
        segments = review.remove_silent_text(segments, loudness)
        if not segments:
            raise AudioError("no speech was found in the audio", code=ErrorCode.NO_SPEECH)
        transcript = Transcript(text=" ".join(s.text for s in segments), language=job.language,
                                duration=round(job.audio.size / decoding.SAMPLE_RATE, 3), segments=segments)
        if ctx.settings.align:
            check_continue(job, ctx)
            update(ctx, job.id, job.holder, stage=JobStage.ALIGNING)
            transcript = ctx.models.align(transcript, job.audio)
        check_continue(job, ctx)
        heard = transcript.segments
        transcript = lexicon.correct_job(transcript, job.options, ctx.settings.vocabulary)
        corrected = transcript.segments
        owner = dictating.owner_templates(ctx.store.redis, lambda: ctx.store.get(job.id).tenant)
        transcript = dictating.dictate(transcript, job.options, owner)
        flags = review.review(transcript.segments, loudness, (heard, corrected))
        transcript = transcript.model_copy(update={"review": flags})
        transcript = findings_reading.read_findings(transcript, job.options, job.id)
        return _end(job.id, job.holder, ctx, job.started, JobStatus.COMPLETED, transcript, progress=100.0)
    except redis.RedisError:
        raise
    except Exception as exc:  # noqa: BLE001 - mapped to the job's outcome
        return _stop(job.id, job.holder, ctx, job.started, exc)
    finally:
        ctx.leases.drop(job.lease)


def _loudness(audio: np.ndarray) -> review.Loudness:
    """The recording's RMS level in dBFS between two times (-120 for nothing at all)."""
    import numpy as np

    def level(start: float, end: float) -> float:
        first = int(start * decoding.SAMPLE_RATE)
        clip = audio[first:max(int(end * decoding.SAMPLE_RATE), first + 1)]
        rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64)))) if clip.size else 0.0
        return 20 * math.log10(rms) if rms > 1e-6 else -120.0

    return level


def _segment(window: Window, decoded: WindowText) -> Segment:
    """A window's text as a segment of the transcript, its words (when timed) moved onto the recording's clock."""
    words = [Word(word=w.word, start=round(window.start + w.start, 3), end=round(window.start + w.end, 3),
                  probability=w.probability) for w in decoded.words] or None
    return Segment(start=round(window.start, 3), end=round(window.end, 3), text=decoded.text.strip(), words=words,
                   avg_logprob=decoded.avg_logprob, no_speech_prob=decoded.no_speech_prob)


def stop(job: OpenJob, ctx: JobContext, exc: Exception) -> RunOutcome:
    """Stop a job that cannot go on (cancelled, timed out, lease lost, failed in the model)."""
    try:
        return _stop(job.id, job.holder, ctx, job.started, exc)
    finally:
        ctx.leases.drop(job.lease)


def check_continue(job: OpenJob, ctx: JobContext) -> None:
    """Raise if the job must stop: lease lost, cancel asked for, time limit passed."""
    # Celery's time limits do nothing in the solo pool the GPU worker needs, so the job enforces its own.
    if job.lease.lost.is_set():
        raise LeaseLost(job.id)
    if ctx.store.is_cancel_requested(job.id):
        raise JobCancelled("the job was cancelled")
    if time.perf_counter() > job.deadline:
        raise JobTimedOut(f"the job ran past its {ctx.settings.job_time_limit_seconds} s limit; split the audio")


def update(ctx: JobContext, job_id: str, holder: str, **fields: Any) -> None:
    if not ctx.store.update(job_id, holder, **fields):
        raise LeaseLost(job_id)


def _stop(job_id: str, holder: str, ctx: JobContext, started: float, exc: Exception) -> RunOutcome:
    """Map why a job cannot go on to its outcome, written once."""
    if isinstance(exc, LeaseLost):
        log.warning("job %s: this run lost its lease; stopping without an outcome", job_id)
        return RunOutcome.ABANDONED
    if isinstance(exc, JobCancelled):
        return _end(job_id, holder, ctx, started, JobStatus.CANCELLED)
    if isinstance(exc, StorageUnavailable):
        return _put_back(job_id, holder, ctx)
    if isinstance(exc, EndoScribeError):
        log.info("job %s failed: %s", job_id, exc.code)
        return _end(job_id, holder, ctx, started, JobStatus.FAILED, error=JobError(code=exc.code, message=exc.message))
    # The traceback names code, not content: the audio and transcript never reach the log.
    log.error("job %s failed unexpectedly", job_id, exc_info=exc)
    error = JobError(code=ErrorCode.TRANSCRIPTION_FAILED,
                     message="the transcription failed unexpectedly; submit the job again or tell the operator")
    return _end(job_id, holder, ctx, started, JobStatus.FAILED, error=error)


def _put_back(job_id: str, holder: str, ctx: JobContext) -> RunOutcome:
    """The audio store is out, which is not the job's fault: back to `queued` with this attempt given back
    (an outage longer than `max_attempts` tries must not fail it `worker_crashed`), its audio and callback
    untouched. Recovery sends it again once its grace period has passed, so a store that is down is
    tried every grace period, not in a loop."""
    log.warning("job %s: the audio store is unavailable; back in the queue for recovery to retry", job_id)
    ctx.store.give_back(job_id, holder)
    return RunOutcome.ABANDONED


def _end(
    job_id: str, holder: str, ctx: JobContext, started: float, status: JobStatus,
    transcript: Transcript | None = None, **fields: Any,
) -> RunOutcome:
    """Record the outcome: one transaction that also deletes the audio, frees the lease and schedules
    the callback. If this run no longer holds the job, nothing is written: the run is abandoned."""
    ended = ctx.store.end(job_id, holder, status, transcript, processing_seconds=round(
        time.perf_counter() - started, 3), **fields)
    if not ended:
        log.warning("job %s: this run no longer holds it; its outcome is dropped", job_id)
        return RunOutcome.ABANDONED
    return RunOutcome(status.value)


def _load_audio(job_id: str, ctx: JobContext) -> np.ndarray:
    data = ctx.audio.get(job_id)
    if data is None:
        raise AudioError("the job's audio is gone (expired or erased); submit it again", code=ErrorCode.AUDIO_MISSING)
    return decoding.decode_audio(data, ctx.settings.max_audio_seconds, ctx.tmp_dir)


def _language_for(requested: str | None, model_language: str | None) -> str | None:
    if requested and model_language and requested != model_language:
        raise AudioError(f"this worker's model only transcribes '{model_language}'; omit language or send "
                         f"language={model_language}", code=ErrorCode.LANGUAGE_UNSUPPORTED)
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
