"""Commands in a live session, in-process against a real redis-server with the fake transcriber: a
command acts on the live text, the server tells `command` events and the finals that changed with a
revision, a command that cannot apply is an event saying so, and a worker that takes the session over
goes on with the same document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core import keys
from core.session_store import SessionStore
from dictation.template_store import TemplateStore
from dictation.templates import Template
from tests.fakes import Harness, live_harness, tone_pcm
from tests.integration.test_live_desk import CHUNK, context, events, new_session
from worker.live.desk import CLAIM_SCAN_SECONDS, LiveDesk

COLONOSCOPY = Template(name="normal-colonoscopy", triggers=["normal colonoscopy"],
                       body="Indication: [screening]. Preparation: [adequate|inadequate]. Findings: [normal].")


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    TemplateStore(clean_redis).put("owner-1", COLONOSCOPY)
    return live_harness(clean_redis)


def say(store: SessionStore, session_id: str, desk: LiveDesk, finals: Iterator[str], utterances: int) -> None:
    """`utterances` times: a second of speech, then a pause; each final's text is the next of `finals`."""
    seq = store.get(session_id).next_seq  # type: ignore[union-attr]
    pcm = (tone_pcm(1.0) + tone_pcm(1.0, 0)) * utterances
    for start in range(0, len(pcm), CHUNK):
        store.append(session_id, seq, pcm[start:start + CHUNK], max_bytes=10**9)
        seq += 1
        while units := desk.poll(admit=True):
            for unit in units:
                desk.deliver(unit, next(finals) if unit.final else "")


def told(client: redis.Redis, session_id: str) -> list[dict[str, Any]]:
    """The session's events but partials, without their times."""
    return [{k: v for k, v in e.items() if k not in ("start", "end")}
            for e in events(client, session_id) if e["type"] != "partial"]


def test_commands_act_on_the_live_text_and_the_finals_they_change_carry_a_revision(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = LiveDesk(context(harness), harness.models.info(), store)
    finals = iter(["The cecum was reached period", "Scratch that.", "Correct that to sigmoid.",
                   "Insert normal colonoscopy.", "Surveillance.", "Inadequate."])

    say(store, session_id, desk, finals, 6)

    assert told(harness.client, session_id) == [
        {"type": "final", "segment": 0, "revision": 0, "text": "The cecum was reached.", "kind": "dictated"},
        {"type": "command", "name": "scratch_that", "applied": True, "said": "Scratch that.", "source": "speech",
         "applied_to": {"block": 0, "text": "The cecum was reached."}},
        {"type": "final", "segment": 0, "revision": 1, "text": "", "kind": "dictated"},
        {"type": "command", "name": "correct_that", "applied": False, "said": "Correct that to sigmoid.",
         "source": "speech",
         "applied_to": None, "reason": "nothing is selected: say “select” and the words to correct first"},
        {"type": "command", "name": "insert_template", "applied": True, "said": "Insert normal colonoscopy.",
         "source": "speech",
         "applied_to": {"block": 1, "template": "normal-colonoscopy", "fields": 3}},
        {"type": "final", "segment": 1, "revision": 0, "kind": "template",
         "text": "Indication: screening. Preparation: adequate. Findings: normal.",
         "field": {"index": 0, "start": 12, "end": 21}},
        {"type": "final", "segment": 1, "revision": 1, "kind": "template",
         "text": "Indication: surveillance. Preparation: adequate. Findings: normal.",
         "field": {"index": 1, "start": 39, "end": 47}},
        {"type": "final", "segment": 1, "revision": 2, "kind": "template",
         "text": "Indication: surveillance. Preparation: inadequate. Findings: normal.",
         "field": {"index": 2, "start": 61, "end": 67}},
    ]
    said = harness.client.hgetall(keys.session_said_key(session_id))
    assert json.loads(said[b"0"]) == ["The cecum was reached.", 0.0, pytest.approx(1.2, abs=0.3)]
    assert harness.client.pttl(keys.session_said_key(session_id)) > 0


def test_a_worker_that_takes_the_session_over_goes_on_with_the_same_document(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    first = LiveDesk(context(harness, "w1"), harness.models.info(), store)
    say(store, session_id, first, iter(["Insert normal colonoscopy.", "Surveillance."]), 2)

    harness.client.delete(keys.session_lease_key(session_id))  # the first worker died: its lease lapsed
    time.sleep(CLAIM_SCAN_SECONDS)
    second = LiveDesk(context(harness, "w2"), harness.models.info(), store)
    say(store, session_id, second, iter(["Scratch that.", "Polyp surveillance."]), 2)

    last = told(harness.client, session_id)[-3:]
    assert last == [
        {"type": "command", "name": "scratch_that", "applied": True, "said": "Scratch that.", "source": "speech",
         "applied_to": {"block": 0, "field": 0}},
        {"type": "final", "segment": 0, "revision": 2, "kind": "template",
         "text": "Indication: screening. Preparation: adequate. Findings: normal.",
         "field": {"index": 0, "start": 12, "end": 21}},
        {"type": "final", "segment": 0, "revision": 3, "kind": "template",
         "text": "Indication: polyp surveillance. Preparation: adequate. Findings: normal.",
         "field": {"index": 1, "start": 45, "end": 53}},
    ]


def test_stop_dictation_ends_the_session_as_its_job(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = LiveDesk(context(harness), harness.models.info(), store)

    say(store, session_id, desk, iter(["The colon was normal.", "Stop dictation.", ""]), 2)
    while units := desk.poll(admit=True):
        for unit in units:
            desk.deliver(unit, "")

    ended = [e for e in events(harness.client, session_id) if e["type"] == "ended"]
    assert [e["reason"] for e in ended] == ["stop_dictation"]


def test_without_formatting_finals_are_the_models_text_as_before(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy", formatting="none")
    desk = LiveDesk(context(harness), harness.models.info(), store)

    say(store, session_id, desk, iter(["The cecum was reached.", "Scratch that."]), 2)

    assert told(harness.client, session_id) == [
        {"type": "final", "segment": 0, "text": "The cecum was reached."},
        {"type": "final", "segment": 1, "text": "Scratch that."},
    ]
    assert not harness.client.exists(keys.session_said_key(session_id))
