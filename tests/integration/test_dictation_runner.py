"""The worker applies vocabulary, correction and dictation formatting (real Redis, fake transcriber)."""

from __future__ import annotations

import pytest
import redis

from core.jobs import JobStatus
from core.settings import VocabularySettings, WorkerSettings
from core.tuning import VocabularyTuning
from core.vocabulary import VocabularyPhrase
from tests.fakes import FakeTranscriber, Harness
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job

SAID = "Findings, colon, a five millimeter sessile polyp with hemo clips, period. New paragraph. Plan colon repeat"


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return Harness(clean_redis, models=FakeTranscriber(text=SAID, steps=1))


def test_a_note_type_job_is_decoded_with_its_vocabulary_and_comes_out_as_a_note(harness: Harness) -> None:
    job_id = harness.submit(note_type="colonoscopy", initial_prompt="Dr. Lee.")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    [prompt] = harness.models.prompts
    assert prompt is not None and prompt.startswith("Dr. Lee. colonoscopy, cecum, appendiceal orifice,")
    result = harness.store.get_result(job_id)
    assert harness.store.get(job_id).status == JobStatus.COMPLETED and result is not None
    assert result.text == "Findings: a 5 mm sessile polyp with hemoclips.\n\nPlan: repeat"
    assert result.raw_text == SAID
    # A segment is one cue of subtitles: its text keeps the marks, not the paragraph breaks.
    assert [s.text for s in result.segments] == ["Findings: a 5 mm sessile polyp with hemoclips. Plan: repeat"]


def test_without_a_note_type_the_general_list_decodes_and_the_text_is_not_reformatted(harness: Harness) -> None:
    job_id = harness.submit()

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    assert harness.models.prompts[0] is not None and harness.models.prompts[0].startswith("propofol, midazolam,")
    result = harness.store.get_result(job_id)
    assert result is not None and result.raw_text == SAID
    assert result.text == SAID.replace("hemo clips", "hemoclips")   # the correction pass alone


def test_settings_turn_the_vocabulary_and_correction_off(harness: Harness) -> None:
    harness.settings = WorkerSettings(
        vocabulary=VocabularySettings(builtin=False, tuning=VocabularyTuning(lexicon=False)))
    own = [VocabularyPhrase(phrase="Resolution clip", sounds_like=["hemo clips"])]
    job_id = harness.submit(initial_prompt="Dr. Lee.", formatting="none", vocabulary=own)

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    assert harness.models.prompts == ["Dr. Lee. Resolution clip."]
    result = harness.store.get_result(job_id)
    assert result is not None and result.text == SAID.replace("hemo clips", "Resolution clip")
