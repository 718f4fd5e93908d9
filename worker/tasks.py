"""Celery tasks: thin wrappers that hand a job id to the job runner."""

from __future__ import annotations

from core import keys
from worker.celery_app import app, state
from worker.job_runner import run_job


@app.task(name=keys.TRANSCRIBE_TASK, acks_late=True, reject_on_worker_lost=True)
def transcribe(job_id: str) -> str:
    """Transcribe one job; the only argument is its id, so Flower shows no patient data."""
    outcome = run_job(job_id, state.context())
    if outcome.ended_job:
        state.jobs_done += 1
    return outcome.value
