"""Findings in the job aggregate, in-process on a real redis-server with the fake transcriber: read when
a job completes (file jobs and live sessions alike), stored with its transcript, erased with the job,
and never the reason a job fails."""

from __future__ import annotations

import logging

import pytest
import redis

from core import keys
from core.jobs import JobStatus
from core.renderers import render
from core.session_store import SessionStore
from tests.fakes import FakeTranscriber, Harness, tone_pcm
from tests.integration.test_live_desk import context, drive, new_session, stream
from worker.jobs.run import RunOutcome
from worker.live.desk import LiveDesk
from worker.schedule.loop import run_job

SAID = "The scope was advanced to the cecum. A 5 mm sessile polyp in the sigmoid colon was removed with a cold snare."


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return Harness(clean_redis, models=FakeTranscriber(text=SAID, steps=1))


def test_a_completed_colonoscopy_job_stores_its_findings_with_its_transcript(harness: Harness) -> None:
    job_id = harness.submit(note_type="colonoscopy")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None and result.findings is not None
    found = result.findings.findings
    assert found is not None and found.kind == "colonoscopy"
    assert found.cecum_reached is not None and found.cecum_reached.value is True
    [polyp] = found.polyps  # type: ignore[union-attr]
    assert polyp.size_mm is not None and result.text[polyp.size_mm.start:polyp.size_mm.end] == "5 mm"
    assert polyp.removal is not None and polyp.removal.value == "cold snare"
    assert '"findings"' not in render(result, "json")
    # Erasing the job erases its findings: they are its stored result.
    harness.store.erase(job_id)
    assert harness.client.exists(keys.result_key(job_id)) == 0


def test_a_job_without_a_findings_model_completes_without_findings(harness: Harness) -> None:
    job_id = harness.submit(note_type="endoscopy")
    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    result = harness.store.get_result(job_id)
    assert result is not None and result.findings is None


def test_an_extractor_that_fails_never_fails_the_job(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(note_type: str | None, text: str, segments: object) -> None:
        raise RuntimeError(text)

    monkeypatch.setattr("findings.extraction.extract", broken)
    job_id = harness.submit(note_type="colonoscopy")
    with caplog.at_level(logging.INFO):
        assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    result = harness.store.get_result(job_id)
    assert harness.store.get(job_id).status is JobStatus.COMPLETED
    assert result is not None and result.text == SAID and result.findings is None
    assert "RuntimeError" in caplog.text and "sigmoid" not in caplog.text


def test_a_live_session_gets_its_findings_at_its_end_like_any_job(clean_redis: redis.Redis) -> None:
    harness = Harness(clean_redis, models=FakeTranscriber(text=SAID, steps=1))
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = LiveDesk(context(harness), harness.models.info(), store)
    stream(store, session_id, tone_pcm(1.0), desk, harness)
    store.request_end(session_id, "end")
    drive(desk, harness)
    state = store.get(session_id)
    assert state is not None

    assert run_job(state.meta.job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(state.meta.job_id)
    assert result is not None and result.findings is not None and result.findings.note_type == "colonoscopy"
    assert result.findings.findings is not None and len(result.findings.findings.polyps) == 1  # type: ignore[union-attr]
