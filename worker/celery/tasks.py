"""Celery tasks: thin wrappers that hand a job id (or nothing: the live task) to a scheduling round."""

from __future__ import annotations

from core import keys
from worker.celery.app import app
from worker.celery.signals import current
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_round


@app.task(name=keys.TRANSCRIBE_TASK, acks_late=True, reject_on_worker_lost=True)
def transcribe(job_id: str) -> str:
    """Transcribe one job, and with it whatever else is ready (see `worker.schedule.loop`); the only
    argument is its id, so Flower shows no patient data."""
    runtime = current()
    outcomes = run_round(job_id, runtime.context(), runtime.wake_live)
    runtime.jobs_done += sum(outcome.ended_job for outcome in outcomes.values())
    return outcomes.get(job_id, RunOutcome.SKIPPED).value


@app.task(name=keys.LIVE_TASK, acks_late=True, reject_on_worker_lost=True)
def serve_live() -> int:
    """Serve the live sessions no worker holds (and, between their units, whatever jobs are ready): sent
    when a session is made and when an API replica finds a session without its worker."""
    runtime = current()
    outcomes = run_round(None, runtime.context(), runtime.wake_live)
    runtime.jobs_done += sum(outcome.ended_job for outcome in outcomes.values())
    return len(outcomes)
