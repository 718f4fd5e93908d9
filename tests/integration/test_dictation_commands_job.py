"""A file job's dictation commands: applied where formatting is on, listed in its result (real Redis,
the worker's job run, a fake transcriber)."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from core.audio_store import RedisAudioStore
from core.job_codec import utcnow
from core.jobs import JobOptions, JobRecord
from core.renderers import render
from dictation.template_store import TemplateStore
from dictation.templates import Template
from tests.fakes import FakeTranscriber, Harness, tone_wav
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job

SAID = ("Findings, a five millimeter polyp period. Scratch that. A three millimeter sessile polyp new paragraph. "
        "Insert normal egd. Dyspepsia. Next field. Accept defaults.")
EGD = Template(name="normal-egd", triggers=["normal egd"],
               body="Indication: [reflux]. ASA class [II|I|III]. Esophagus: [normal].")


def submit(harness: Harness, owner: str, **options: object) -> str:
    job_id = str(uuid.uuid4())
    RedisAudioStore(harness.client).put(job_id, [tone_wav()])
    harness.store.create(JobRecord(id=job_id, tenant=owner, created_at=utcnow(), options=JobOptions(**options)))
    return job_id


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    TemplateStore(clean_redis).put("clinic-a", EGD)
    return Harness(clean_redis, models=FakeTranscriber(text=SAID, steps=1))


def test_a_note_type_job_applies_its_commands_and_lists_them_with_the_unfilled_fields(harness: Harness) -> None:
    job_id = submit(harness, "clinic-a", note_type="egd")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None
    assert result.text == "A 3 mm sessile polyp.\n\nIndication: dyspepsia. ASA class II. Esophagus: normal."
    body = json.loads(render(result, "json"))
    assert [(c["name"], c["applied"], c["applied_to"]) for c in body["commands"]] == [
        ("scratch_that", True, {"block": 0, "text": "Findings, a 5 mm polyp."}),
        ("new_paragraph", True, {"block": 2}),
        ("insert_template", True, {"block": 3, "template": "normal-egd", "fields": 3}),
        ("next_field", True, {"template": "normal-egd", "field": 1, "label": "II|I|III"}),
        ("accept_defaults", True, {"template": "normal-egd", "fields": [2]}),
    ]
    assert all(c["start"] == 0.0 and c["end"] > 0 for c in body["commands"])  # one segment: its edges
    assert body["unfilled_fields"] == [
        {"template": "normal-egd", "field": 1, "label": "II|I|III", "default": "II"},
        {"template": "normal-egd", "field": 2, "label": "normal", "default": "normal"},
    ]
    assert body["raw_text"] == SAID
    assert body["segments"][0]["text"].startswith("Findings, a 5 mm polyp. Scratch that.")


def test_another_keys_templates_are_not_inserted_and_the_refusal_is_listed(harness: Harness) -> None:
    job_id = submit(harness, "clinic-b", note_type="egd")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None and result.commands is not None
    # "insert normal egd" is no command for this key: its words stay text, and no field is filled
    assert "Insert normal EGD." in result.text or "Insert normal egd." in result.text
    assert result.unfilled_fields is None
    refused = [c for c in result.commands if not c.applied]
    assert [(c.name, c.reason) for c in refused] == [
        ("next_field", "there is no field to move on from"), ("accept_defaults", "there are no fields left to fill")]


def test_without_formatting_the_commands_stay_as_said(harness: Harness) -> None:
    job_id = submit(harness, "clinic-a", note_type="egd", formatting="none")

    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED

    result = harness.store.get_result(job_id)
    assert result is not None and result.commands is None and result.unfilled_fields is None
    assert "Scratch that." in result.text and "Insert normal egd." in result.text


def test_the_json_result_schema_declares_the_commands_and_the_unfilled_fields() -> None:
    from api.main import create_app
    from core.settings import Settings

    schemas = create_app(Settings()).openapi()["components"]["schemas"]
    assert schemas["Transcript"]["properties"]["commands"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/AppliedCommand"}
    assert set(schemas["UnfilledField"]["properties"]) == {"template", "field", "label", "default"}
