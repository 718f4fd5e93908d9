"""The one recovery path: every job not yet ended is brought back into the flow if it fell out of it.

Jobs fall out of the flow in a few ways: the worker running one died (OOM kill, kill -9, a lost
host) or gave the run up when Redis failed; its task message was lost (the API died between storing
the job and sending it, Redis lost it, a worker acked it without claiming the job). Recovery walks
the open-jobs index, not the broker: a job whose lease lapsed is requeued (or failed once its
attempts are spent), and a queued job with no message in the broker is sent again. Every step is a
transaction on the job itself, so any number of workers may sweep at once; a short lease on the sweep
only keeps them from doing the same work every heartbeat. Sending twice is harmless: the runner skips
a job that is held or ended.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.job_store import JobStore, Recovery

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    """Lease lapsed mid-run: back to queued and sent again."""
    resent: list[str] = field(default_factory=list)
    """Queued without a broker message: sent again."""
    ended: list[str] = field(default_factory=list)
    """Lease lapsed with no attempts left (or cancelled meanwhile): ended."""


def sweep(
    store: JobStore,
    send: Callable[[str], None],
    broker_ids: Callable[[], set[str]],
    max_attempts: int,
    grace_seconds: float,
    now: float | None = None,
) -> SweepReport:
    """Recover every open job last sent more than `grace_seconds` ago."""
    now = now or time.time()
    report = SweepReport()
    in_broker: set[str] | None = None
    cutoff = now - grace_seconds
    for job_id in store.open_jobs(sent_before=cutoff):
        action = store.recover(job_id, max_attempts, cutoff)
        if action is Recovery.ENDED:
            log.error("job %s lost its worker with no attempts left; ended", job_id)
            report.ended.append(job_id)
        elif action is Recovery.REQUEUED:
            log.warning("job %s lost its worker mid-job; requeued", job_id)
            _resend(store, send, job_id)
            report.requeued.append(job_id)
        elif action is Recovery.WAITING:
            # Read the broker once per sweep, and only if some queued job is old enough to ask about.
            in_broker = broker_ids() if in_broker is None else in_broker
            if job_id not in in_broker:
                log.warning("job %s was queued with no task message; sent again", job_id)
                _resend(store, send, job_id)
                report.resent.append(job_id)
    return report


def _resend(store: JobStore, send: Callable[[str], None], job_id: str) -> None:
    send(job_id)
    store.mark_sent(job_id)
