"""Which windows go into the next batch (`worker.schedule.batching.pick_batch`), as plain data."""

from __future__ import annotations

from dataclasses import dataclass

from worker.schedule.batching import STARVING_AFTER, pick_batch


@dataclass
class Job:
    name: str
    windows: int
    seq: int
    high: bool = False
    sent: int = 0
    key: str = "plain"
    passed_over: int = 0

    @property
    def remaining(self) -> int:
        return self.windows - self.sent


def picked(jobs: list[Job], size: int) -> list[tuple[str, int]]:
    return [(job.name, index) for job, index in pick_batch(jobs, size)]


def test_windows_of_several_jobs_fill_one_batch_shortest_first() -> None:
    jobs = [Job("long", 6, seq=0), Job("short", 1, seq=1), Job("mid", 2, seq=2)]
    assert picked(jobs, 4) == [("short", 0), ("mid", 0), ("mid", 1), ("long", 0)]


def test_a_job_resumes_at_its_next_unsent_window() -> None:
    jobs = [Job("long", 6, seq=0, sent=4)]
    assert picked(jobs, 4) == [("long", 4), ("long", 5)]


def test_the_high_priority_lane_goes_first_even_when_longer() -> None:
    jobs = [Job("short", 1, seq=0), Job("mid", 2, seq=1), Job("urgent", 3, seq=2, high=True)]
    assert picked(jobs, 2) == [("urgent", 0), ("urgent", 1)]
    assert picked(jobs, 5) == [("urgent", 0), ("urgent", 1), ("urgent", 2), ("short", 0), ("mid", 0)]


def test_every_job_that_fits_gets_a_window_in_every_batch_before_any_gets_two() -> None:
    jobs = [Job("long-a", 9, seq=0), Job("long-b", 9, seq=1), Job("clip", 1, seq=2)]
    assert picked(jobs, 4) == [("clip", 0), ("long-a", 0), ("long-a", 1), ("long-b", 0)]


def test_only_windows_that_can_share_a_forward_pass_fill_the_batch() -> None:
    jobs = [Job("a", 1, seq=0, key="prompt-5"), Job("b", 2, seq=1, key="plain"), Job("c", 1, seq=2, key="prompt-5")]
    assert picked(jobs, 4) == [("a", 0), ("c", 0)]


def test_a_job_passed_over_too_long_leads_the_next_batch() -> None:
    jobs = [Job("short", 1, seq=1, key="x"), Job("long", 9, seq=0, key="y", passed_over=STARVING_AFTER)]
    assert picked(jobs, 2) == [("long", 0), ("long", 1)]
    jobs[1].passed_over = STARVING_AFTER - 1
    assert picked(jobs, 2) == [("short", 0)]


def test_nothing_to_pick() -> None:
    assert picked([Job("done", 2, seq=0, sent=2)], 4) == []
    assert picked([], 4) == []


def test_on_a_cpu_a_batch_the_high_lane_leads_takes_no_normal_windows() -> None:
    jobs = [Job("file", 9, seq=0), Job("live-a", 1, seq=1, high=True), Job("live-b", 1, seq=2, high=True)]
    assert [(j.name, i) for j, i in pick_batch(jobs, 4, high_alone=True)] == [("live-a", 0), ("live-b", 0)]
    assert [(j.name, i) for j, i in pick_batch(jobs[:1], 4, high_alone=True)] == [("file", n) for n in range(4)]
    assert picked(jobs, 4) == [("live-a", 0), ("live-b", 0), ("file", 0), ("file", 1)]
