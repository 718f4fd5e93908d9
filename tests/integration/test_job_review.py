"""Review flags in the job aggregate, in-process on a real redis-server with the fake transcriber: a
completed job's result lists what to check, in the JSON format, and a job whose model was unsure of
a window says so."""

from __future__ import annotations

import json

import redis

from core.renderers import render
from core.review_flags import ReviewReason
from tests.fakes import FakeTranscriber, Harness, tone_wav
from worker.jobs.run import RunOutcome
from worker.model.transcriber import DecodeRequest, WindowText
from worker.schedule.loop import run_job


class UnsureTranscriber(FakeTranscriber):
    """Gives every window the decoder statistics of a made-up stretch."""

    def decode(self, batch: list[DecodeRequest]) -> list[WindowText]:  # type: ignore[override]
        return [WindowText(w.text, avg_logprob=-1.6, no_speech_prob=0.93) for w in super().decode(batch)]


def test_a_completed_job_lists_its_numbers_and_its_doubtful_stretches_in_its_json_result(
    clean_redis: redis.Redis,
) -> None:
    harness = Harness(clean_redis, models=UnsureTranscriber(text="A sessile polyp of 5 mm was removed.", steps=1))
    job_id = harness.submit(audio=tone_wav(4.0))  # 4 s: room for its words

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None and result.review is not None
    assert [(f.reason, f.text) for f in result.review] == [
        (ReviewReason.DOUBTFUL_DECODE, "A sessile polyp of 5 mm was removed."),
        (ReviewReason.NO_SPEECH, "A sessile polyp of 5 mm was removed."),
        (ReviewReason.NUMBER_OR_UNIT, "5 mm"),
    ]
    shown = json.loads(render(result, "json"))
    assert [f["reason"] for f in shown["review"]] == ["doubtful_decode", "no_speech", "number_or_unit"]
    assert shown["segments"][0]["avg_logprob"] == -1.6  # what tripped it is in the result too


def test_a_sure_job_without_numbers_has_an_empty_review(clean_redis: redis.Redis) -> None:
    harness = Harness(clean_redis, models=FakeTranscriber(text="The scope was advanced to the cecum.", steps=1))
    job_id = harness.submit(audio=tone_wav(4.0))  # 4 s: room for its words

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None and result.review == []
