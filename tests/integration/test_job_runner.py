"""The job runner, branch by branch: `run_job` (one scheduler round) in-process against a real redis-server, with a fake
transcriber behind the Transcriber protocol (milliseconds per job, no model)."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
import redis

from core import keys
from core.job_store import Claim
from core.jobs import JobStatus
from tests.fakes import Harness, tone_wav
from tests.services import start_redis
from worker.jobs import run as job_runner
from worker.jobs.recovery import sweep
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return Harness(clean_redis)


def ended_cleanly(h: Harness, job_id: str, event: str) -> None:
    """What every ended job looks like: no audio, no lease, not open, callback due with its event."""
    assert h.store.get_audio(job_id) is None
    assert h.client.exists(keys.lease_key(job_id)) == 0
    assert h.client.zscore(keys.OPEN_JOBS, job_id) is None
    hook = h.client.get(keys.webhook_key(job_id))
    assert hook is not None and f'"event":"{event}"' in hook.decode()
    assert h.client.zscore(keys.WEBHOOK_DUE, job_id) is not None


def test_a_job_completes_in_one_transaction_with_its_callback(harness: Harness) -> None:
    job_id = harness.submit(initial_prompt="cecum, sessile")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    record = harness.store.get(job_id)
    assert (record.status, record.stage, record.progress, record.attempts) == (JobStatus.COMPLETED, "done", 100.0, 1)
    assert (record.model, record.device, record.audio_seconds, record.worker) == ("fake-model", "cpu", 1.0,
                                                                                  "test-worker")
    result = harness.store.get_result(job_id)
    # The fake finds three windows of speech and hears the same sentence in each.
    assert result is not None and result.text == " ".join(["Sessile polyp in the cecum, 5 mm."] * 3)
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 0.333), (0.333, 0.667), (0.667, 1.0)]
    # The general endoscopy vocabulary follows the client's prompt, in every window.
    assert len(harness.models.prompts) == 3 and len(set(harness.models.prompts)) == 1
    assert harness.models.prompts[0] is not None and harness.models.prompts[0].startswith("cecum, sessile propofol,")
    ended_cleanly(harness, job_id, "job.completed")


def test_a_second_delivery_of_an_ended_job_does_nothing(harness: Harness) -> None:
    job_id = harness.submit()
    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    assert run_job(job_id, harness.context()) is RunOutcome.SKIPPED
    assert harness.models.recordings == 1 and harness.store.get(job_id).attempts == 1


def test_cancel_mid_run_ends_the_job_cancelled(harness: Harness) -> None:
    job_id = harness.submit()
    harness.models.during = lambda step: harness.store.cancel(job_id) if step == 1 else None

    assert run_job(job_id, harness.context()) is RunOutcome.CANCELLED

    assert harness.store.get(job_id).status == JobStatus.CANCELLED
    assert harness.store.get_result(job_id) is None
    ended_cleanly(harness, job_id, "job.cancelled")


def test_a_run_that_lost_its_lease_writes_nothing_and_keeps_the_audio(harness: Harness) -> None:
    job_id = harness.submit()
    harness.models.during = lambda step: harness.client.set(keys.lease_key(job_id), "someone-else") if step == 1 \
        else None

    assert run_job(job_id, harness.context()) is RunOutcome.ABANDONED

    record = harness.store.get(job_id)
    assert record.status == JobStatus.PROCESSING and record.progress < 100
    assert harness.store.get_audio(job_id) is not None and harness.store.get_result(job_id) is None
    assert harness.client.get(keys.lease_key(job_id)) == b"someone-else"
    assert harness.client.zscore(keys.WEBHOOK_DUE, job_id) is None


def test_a_job_stuck_in_the_model_past_its_hard_deadline_fails_and_the_worker_is_replaced(
    harness: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_runner, "HARD_DEADLINE_GRACE_SECONDS", 0.5)
    # model_copy skips validation: a 3 s limit (the setting's floor is 10 s) keeps this test short.
    harness.settings = harness.settings.model_copy(update={"job_time_limit_seconds": 3.0})
    job_id = harness.submit()
    # One uninterruptible model call: no progress point comes until the lease keeper (every 2 s)
    # has seen the hard deadline (3.5 s) pass and given up on the run.
    def stuck(step: int) -> None:
        deadline = time.monotonic() + 20
        while step == 0 and not harness.wedged and time.monotonic() < deadline:
            time.sleep(0.05)  # the uninterruptible model call

    harness.models.during = stuck

    assert run_job(job_id, harness.context()) is RunOutcome.ABANDONED

    record = harness.store.get(job_id)
    assert record.status == JobStatus.FAILED and record.error is not None and record.error.code == "job_timeout"
    assert harness.wedged == [True]
    ended_cleanly(harness, job_id, "job.failed")


def test_a_poison_job_costs_max_attempts_worker_lives_then_fails_worker_crashed(harness: Harness) -> None:
    job_id = harness.submit()
    store = harness.store
    for life in range(harness.settings.max_attempts):
        # A worker claims it and dies (OOM kill): its lease lapses, recovery requeues the job.
        assert store.claim(job_id, f"w{life}/run", f"w{life}", 30, harness.settings.max_attempts) is Claim.CLAIMED
        harness.client.delete(keys.lease_key(job_id))
        report = sweep(store, lambda _: None, set, harness.settings.max_attempts, grace_seconds=0,
                       now=time.time() + 1)
        expected = "ended" if life + 1 == harness.settings.max_attempts else "requeued"
        assert job_id in getattr(report, expected), (life, report)

    record = store.get(job_id)
    assert record.status == JobStatus.FAILED and record.attempts == harness.settings.max_attempts
    assert record.error is not None and record.error.code == "worker_crashed"
    ended_cleanly(harness, job_id, "job.failed")
    assert run_job(job_id, harness.context()) is RunOutcome.SKIPPED


def test_a_redelivered_message_of_a_job_out_of_attempts_fails_it_at_claim(harness: Harness) -> None:
    job_id = harness.submit()
    harness.client.hset(keys.job_key(job_id), "attempts", str(harness.settings.max_attempts))

    assert run_job(job_id, harness.context()) is RunOutcome.FAILED

    record = harness.store.get(job_id)
    assert record.error is not None and record.error.code == "worker_crashed"
    assert harness.models.calls == 0
    ended_cleanly(harness, job_id, "job.failed")


def test_audio_over_the_limit_fails_audio_too_long_before_the_model_runs(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(update={"max_audio_seconds": 2.0})
    job_id = harness.submit(tone_wav(seconds=3.0))

    assert run_job(job_id, harness.context()) is RunOutcome.FAILED

    record = harness.store.get(job_id)
    assert record.error is not None and record.error.code == "audio_too_long"
    assert harness.models.calls == 0
    ended_cleanly(harness, job_id, "job.failed")


@pytest.fixture()
def fragile_redis(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A redis-server this test may kill and restart: AOF on every write, DEBUG allowed."""
    args = ("--appendonly", "yes", "--appendfsync", "always", "--enable-debug-command", "local")
    proc, url = start_redis(tmp_path, *args)
    state = {"proc": proc, "url": url, "args": args}
    yield state
    state["proc"].stop()


def test_redis_killed_mid_job_leaves_the_job_to_recovery_and_it_completes_once(fragile_redis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = redis.Redis.from_url(fragile_redis["url"]).connection_pool.connection_kwargs["port"]
    harness = Harness(redis.Redis.from_url(fragile_redis["url"], socket_timeout=2))
    job_id = harness.submit()

    def kill_and_restart(step: int) -> None:
        if step == 1:
            fragile_redis["proc"].stop(signal.SIGKILL)
            threading.Timer(1.0, lambda: fragile_redis.update(
                proc=start_redis(tmp_path, *fragile_redis["args"], port=port)[0])).start()

    harness.models.during = kill_and_restart
    assert run_job(job_id, harness.context()) is RunOutcome.ABANDONED

    # Redis came back with the job (AOF): the run gave it up, so recovery requeues it at once.
    record = harness.store.get(job_id)
    assert record.status == JobStatus.PROCESSING and harness.client.exists(keys.lease_key(job_id)) == 0
    sent: list[str] = []
    report = sweep(harness.store, sent.append, set, 3, grace_seconds=0, now=time.time() + 1)
    assert report.requeued == [job_id] and sent == [job_id]

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    record = harness.store.get(job_id)
    assert (record.status, record.attempts) == (JobStatus.COMPLETED, 2)
    ended_cleanly(harness, job_id, "job.completed")


def test_redis_paused_mid_job_past_the_clients_timeout_still_ends_the_job_exactly_once(fragile_redis) -> None:  # type: ignore[no-untyped-def]
    harness = Harness(redis.Redis.from_url(fragile_redis["url"], socket_timeout=0.5))
    admin = redis.Redis.from_url(fragile_redis["url"])
    job_id = harness.submit()

    def pause(step: int) -> None:
        if step == 1:
            threading.Thread(target=admin.execute_command, args=("DEBUG", "SLEEP", "1.5")).start()
            time.sleep(0.1)  # Redis is asleep before the run goes on

    harness.models.during = pause
    first = run_job(job_id, harness.context())
    if first is RunOutcome.ABANDONED:
        sweep(harness.store, lambda _: None, set, 3, grace_seconds=0, now=time.time() + 1)
        assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    else:
        assert first is RunOutcome.COMPLETED

    record = harness.store.get(job_id)
    assert record.status == JobStatus.COMPLETED and record.attempts == (2 if first is RunOutcome.ABANDONED else 1)
    ended_cleanly(harness, job_id, "job.completed")
    assert first is RunOutcome.ABANDONED, "the pause outlasted the client's timeout: the run must have given up"
