"""The worker's scheduler across jobs: one round, in-process, against a real redis-server, with a fake
transcriber (it records every batch: which windows, with which prompt)."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from prometheus_client import REGISTRY

from core import keys
from core.jobs import JobStatus
from core.settings import VocabularySettings
from tests.fakes import Harness, tone_wav
from worker.jobs.run import RunOutcome
from worker.model.transcriber import DecodeRequest
from worker.schedule.loop import run_round


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    h = Harness(clean_redis)
    # No built-in vocabulary: each job decodes with exactly the prompt it was given.
    h.settings = h.settings.model_copy(update={"vocabulary": VocabularySettings(builtin=False)})
    h.models.batch_size = 4
    h.models.steps = 1
    # Each window is "heard" as its own length, so a text shows whose window it was.
    h.models.reply = lambda r: f"{r.audio.size / 16000:.1f} s"
    return h


def result_text(h: Harness, job_id: str) -> str:
    result = h.store.get_result(job_id)
    assert result is not None, h.store.get(job_id)
    return result.text


def test_one_round_packs_windows_of_many_jobs_and_scatters_each_text_to_its_job(harness: Harness) -> None:
    jobs = [harness.submit(tone_wav(seconds)) for seconds in (1.0, 2.0, 3.0, 4.0, 5.0)]

    outcomes = run_round(jobs[0], harness.context())

    assert outcomes == {job_id: RunOutcome.COMPLETED for job_id in jobs}
    assert [len(batch) for batch in harness.models.batches] == [4, 1]
    assert [result_text(harness, j) for j in jobs] == ["1.0 s", "2.0 s", "3.0 s", "4.0 s", "5.0 s"]
    assert harness.client.zcard(keys.READY) == 0
    # The other jobs' own task messages, arriving later, find them done.
    assert run_round(jobs[3], harness.context()) == {jobs[3]: RunOutcome.SKIPPED}


def test_each_job_keeps_its_own_prompt_and_only_compatible_prompts_share_a_batch(harness: Harness) -> None:
    plain = [harness.submit(tone_wav(1.0)) for _ in range(2)]
    prompted = [harness.submit(tone_wav(2.0), initial_prompt="cecum, sessile") for _ in range(2)]

    run_round(plain[0], harness.context())

    assert sorted(harness.models.batches, key=str) == [[("cecum, sessile", 2.0), ("cecum, sessile", 2.0)],
                                                       [(None, 1.0), (None, 1.0)]]
    assert all(harness.store.get(j).status == JobStatus.COMPLETED for j in plain + prompted)


def test_a_job_cancelled_mid_round_ends_cancelled_and_its_batch_mates_complete(harness: Harness) -> None:
    harness.models.steps = 3
    harness.models.batch_size = 2
    victim, other = harness.submit(tone_wav(3.0)), harness.submit(tone_wav(3.0))
    harness.models.during = lambda step: harness.store.cancel(victim) if step == 1 else None

    outcomes = run_round(victim, harness.context())

    assert outcomes == {victim: RunOutcome.CANCELLED, other: RunOutcome.COMPLETED}
    assert harness.store.get_result(victim) is None and result_text(harness, other) == "1.0 s 1.0 s 1.0 s"


def test_with_two_lanes_a_job_cancelled_while_its_window_decodes_ends_cancelled_once(harness: Harness) -> None:
    # Lane one decodes the job's first window; meanwhile the round, free to launch on lane two, sees
    # the cancel and drops the job. The first window's text then lands for a job that is over.
    harness.models.steps = 3
    harness.models.batch_size = 1
    harness.models.lanes = 2
    victim = harness.submit(tone_wav(3.0))

    def cancel_and_wait(step: int) -> None:
        if step == 0:
            harness.store.cancel(victim)
            deadline = time.monotonic() + 3
            while harness.store.get(victim).status != JobStatus.CANCELLED and time.monotonic() < deadline:  # type: ignore[union-attr]
                time.sleep(0.02)  # until the cancel lands, mid-decode

    harness.models.during = cancel_and_wait

    outcomes = run_round(victim, harness.context())

    assert outcomes == {victim: RunOutcome.CANCELLED}
    assert harness.store.get(victim).status == JobStatus.CANCELLED  # type: ignore[union-attr]
    assert harness.models.calls <= 2  # the window in flight, perhaps one launched beside it; no more


def test_a_high_priority_clip_rides_in_the_next_batch_while_a_long_job_runs(harness: Harness) -> None:
    harness.models.steps = 6
    harness.models.batch_size = 2
    long_job = harness.submit(tone_wav(6.0))
    urgent: list[str] = []

    def arrive(step: int) -> None:
        if step == 0:
            urgent.append(harness.submit(tone_wav(3.0), priority="high"))

    harness.models.during = arrive
    outcomes = run_round(long_job, harness.context())

    assert outcomes == {long_job: RunOutcome.COMPLETED, urgent[0]: RunOutcome.COMPLETED}
    # Batch 0 was already in flight; the clip's windows (0.5 s each) fill the batches after it.
    assert [[seconds for _, seconds in batch] for batch in harness.models.batches] == [
        [1.0, 1.0], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [1.0, 1.0], [1.0, 1.0]]
    assert harness.store.get(urgent[0]).finished_at <= harness.store.get(long_job).finished_at  # type: ignore[operator]


def test_a_short_clip_rides_in_the_next_batch_even_while_long_jobs_fill_every_slot(harness: Harness) -> None:
    harness.models.steps, harness.models.batch_size = 20, 4
    long_jobs = [harness.submit(tone_wav(20.0)) for _ in range(2)]
    clip: list[str] = []

    def arrive(step: int) -> None:
        if step == 3:  # the second long job has now waited 4 batches
            harness.models.steps = 1
            clip.append(harness.submit(tone_wav(0.5)))

    harness.models.during = arrive
    run_round(long_jobs[0], harness.context())

    assert all(len(batch) == 4 for batch in harness.models.batches[:10])
    assert (None, 0.5) in harness.models.batches[4]
    assert harness.store.get(clip[0]).status == JobStatus.COMPLETED


def test_a_long_recordings_speech_is_found_in_the_background_while_a_clip_goes_through(harness: Harness) -> None:
    harness.models.vad_seconds = 1.5
    long_job, clip = harness.submit(tone_wav(31.0)), harness.submit(tone_wav(1.0))

    outcomes = run_round(long_job, harness.context())

    assert outcomes == {long_job: RunOutcome.COMPLETED, clip: RunOutcome.COMPLETED}
    assert harness.models.batches[0] == [(None, 1.0)]
    assert harness.store.get(clip).finished_at < harness.store.get(long_job).finished_at  # type: ignore[operator]


def test_a_window_the_prompt_cut_short_is_decoded_again_without_it(harness: Harness) -> None:
    harness.models.reply = lambda r: "polyp" if r.initial_prompt else "a sessile polyp in the cecum was removed"
    prompted, plain = harness.submit(tone_wav(5.0), initial_prompt="cecum"), harness.submit(tone_wav(5.0))

    run_round(prompted, harness.context())

    assert result_text(harness, prompted) == result_text(harness, plain) == "a sessile polyp in the cecum was removed"
    assert sorted(harness.models.batches, key=str) == [[("cecum", 5.0)], [(None, 5.0)], [(None, 5.0)]]


def test_a_clip_that_arrives_while_the_only_open_job_waits_for_its_speech_goes_through_at_once(
        harness: Harness) -> None:
    harness.models.vad_seconds = 3.0
    long_job = harness.submit(tone_wav(31.0))
    clip: list[str] = []
    # The clip arrives just after the round started looking for the long recording's speech.
    threading.Timer(0.5, lambda: clip.append(harness.submit(tone_wav(1.0)))).start()

    run_round(long_job, harness.context())

    assert harness.models.batches[0] == [(None, 1.0)]
    started = harness.store.get(long_job).started_at
    finished = harness.store.get(clip[0]).finished_at
    assert started is not None and finished is not None and (finished - started).total_seconds() < 2.5


def test_out_of_memory_halves_the_batch_and_no_job_fails(harness: Harness) -> None:
    jobs = [harness.submit(tone_wav(1.0)) for _ in range(4)]
    harness.models.oom_above = 1
    ctx = harness.context()
    counted = REGISTRY.get_sample_value("endoscribe_worker_oom_halvings_total") or 0.0

    outcomes = run_round(jobs[0], ctx)

    assert set(outcomes.values()) == {RunOutcome.COMPLETED}
    assert (ctx.batch.size, ctx.batch.oom_halvings) == (1, 2)
    assert REGISTRY.get_sample_value("endoscribe_worker_oom_halvings_total") == counted + 2
    assert [len(batch) for batch in harness.models.batches] == [1, 1, 1, 1]


def test_a_window_the_model_fails_on_fails_only_its_own_job(harness: Harness) -> None:
    poison, healthy = harness.submit(tone_wav(2.0)), harness.submit(tone_wav(1.0))

    def reply(request: DecodeRequest) -> str:
        if request.audio.size == 32000:
            raise ValueError("model blew up")
        return "fine"

    harness.models.reply = reply
    outcomes = run_round(poison, harness.context())

    assert outcomes == {poison: RunOutcome.FAILED, healthy: RunOutcome.COMPLETED}
    error = harness.store.get(poison).error
    assert error is not None and error.code == "transcription_failed"


def test_admission_is_bounded_and_the_rest_waits_in_the_ready_set(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"tuning": harness.settings.tuning.model_copy(update={"scheduler_max_jobs": 2})})
    jobs = [harness.submit(tone_wav(1.0)) for _ in range(5)]

    outcomes = run_round(jobs[0], harness.context())

    # Admitted two at a time: every job ends in this round, in batches of at most two.
    assert set(outcomes.values()) == {RunOutcome.COMPLETED} and len(outcomes) == 5
    assert max(len(batch) for batch in harness.models.batches) == 2


def test_jobs_in_a_round_each_count_their_own_attempt_and_lease(harness: Harness) -> None:
    jobs = [harness.submit(tone_wav(1.0)) for _ in range(3)]
    seen: list[set[str]] = []
    harness.models.during = lambda step: seen.append({j for j in jobs if harness.client.exists(keys.lease_key(j))})

    run_round(jobs[0], harness.context())

    assert seen == [set(jobs)]
    assert [harness.store.get(j).attempts for j in jobs] == [1, 1, 1]
    assert not any(harness.client.exists(keys.lease_key(j)) for j in jobs)


def test_a_round_holds_only_what_its_next_batches_need_and_leaves_the_rest_to_other_workers(
        harness: Harness) -> None:
    harness.models.batch_size, harness.models.steps = 2, 3
    jobs = [harness.submit(tone_wav(3.0)) for _ in range(6)]
    held: list[int] = []
    harness.models.during = lambda step: held.append(sum(harness.client.exists(keys.lease_key(j)) for j in jobs))

    outcomes = run_round(jobs[0], harness.context())

    # Two jobs of three windows fill the next two batches of two; more are claimed only as they drain.
    assert held[0] == 2 and max(held) <= 3
    assert set(outcomes.values()) == {RunOutcome.COMPLETED} and len(outcomes) == 6


def test_a_round_whose_only_job_is_cancelled_between_batches_sends_the_model_nothing_more(harness: Harness) -> None:
    harness.models.steps, harness.models.batch_size = 4, 2
    job_id = harness.submit(tone_wav(4.0))
    harness.models.during = lambda step: harness.store.cancel(job_id) if step == 0 else None

    assert run_round(job_id, harness.context()) == {job_id: RunOutcome.CANCELLED}
    assert harness.models.calls == 1
