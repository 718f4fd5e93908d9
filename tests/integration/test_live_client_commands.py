"""Commands a live session's client sends (the `/dictate` page's buttons and keys), in-process against a
real redis-server with the fake transcriber: each applies where it came in the audio, through the same
editor as a spoken one, with `"source": "client"`; a worker that takes the session over replays them,
and the session's job applies them at the same audio times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core import keys
from core.jobs import ClientCommand, JobOptions, Segment, Transcript, Word
from core.session_store import SessionStore
from dictation.template_store import TemplateStore
from tests.fakes import Harness, live_harness, tone_pcm
from tests.integration.test_live_desk import CHUNK, context, events, new_session
from tests.integration.test_live_dictation import COLONOSCOPY, told
from worker.live.commanding import NO_DICTATION
from worker.live.desk import CLAIM_SCAN_SECONDS, LiveDesk
from worker.text.dictating import dictate

SPEECH, PAUSE = tone_pcm(1.0), tone_pcm(1.0, 0)


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    TemplateStore(clean_redis).put("owner-1", COLONOSCOPY)
    return live_harness(clean_redis)


def feed(store: SessionStore, session_id: str, desk: LiveDesk, finals: Iterator[str], *said: bytes | dict[str, Any]
         ) -> None:
    """Audio (a chunk at a time, the desk decoding after each; each final's text the next of `finals`)
    and commands (`push_command`, as the API stores one), in the order given."""
    for piece in said:
        if isinstance(piece, dict):
            assert store.push_command(session_id, piece) > 0
            continue
        seq = store.get(session_id).next_seq  # type: ignore[union-attr]
        for start in range(0, len(piece), CHUNK):
            store.append(session_id, seq, piece[start:start + CHUNK], max_bytes=10**9)
            seq += 1
            while units := desk.poll(admit=True):
                for unit in units:
                    desk.deliver(unit, next(finals) if unit.final else "")


def serve(harness: Harness, store: SessionStore, worker: str = "w1") -> LiveDesk:
    return LiveDesk(context(harness, worker), harness.models.info(), store)


def test_a_client_command_applies_where_it_came_in_the_audio_as_the_spoken_one_would(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = serve(harness, store)

    feed(store, session_id, desk, iter(["The cecum was reached.", "The sigmoid was reached.", "Surveillance."]),
         SPEECH, PAUSE, {"name": "scratch_that"}, SPEECH, PAUSE,
         {"name": "insert_template", "template": "normal-colonoscopy"}, PAUSE, SPEECH, PAUSE)

    assert told(harness.client, session_id) == [
        {"type": "final", "segment": 0, "revision": 0, "text": "The cecum was reached.", "kind": "dictated"},
        {"type": "command", "name": "scratch_that", "applied": True, "said": "", "source": "client",
         "applied_to": {"block": 0, "text": "The cecum was reached."}},
        {"type": "final", "segment": 0, "revision": 1, "text": "", "kind": "dictated"},
        {"type": "final", "segment": 1, "revision": 0, "text": "The sigmoid was reached.", "kind": "dictated"},
        {"type": "command", "name": "insert_template", "applied": True, "said": "", "source": "client",
         "applied_to": {"block": 2, "template": "normal-colonoscopy", "fields": 3}},
        {"type": "final", "segment": 2, "revision": 0, "kind": "template",
         "text": "Indication: screening. Preparation: adequate. Findings: normal.",
         "field": {"index": 0, "start": 12, "end": 21}},
        {"type": "final", "segment": 2, "revision": 1, "kind": "template",
         "text": "Indication: surveillance. Preparation: adequate. Findings: normal.",
         "field": {"index": 1, "start": 39, "end": 47}},
    ]
    command = next(e for e in events(harness.client, session_id) if e["type"] == "command")
    assert command["start"] == command["end"] == 2.0  # where it came: after two seconds of audio


def test_a_command_sent_while_an_utterance_is_spoken_applies_after_that_utterance(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = serve(harness, store)
    half = len(SPEECH) // 2

    feed(store, session_id, desk, iter(["The cecum was reached.", "Then withdrawn."]),
         SPEECH[:half], {"name": "new_paragraph"}, SPEECH[half:], PAUSE, SPEECH, PAUSE)

    assert [(e["type"], e.get("name") or e.get("text")) for e in told(harness.client, session_id)] == [
        ("final", "The cecum was reached."), ("command", "new_paragraph"), ("final", "\n\n"),
        ("final", "Then withdrawn."),
    ]


def test_a_worker_that_takes_the_session_over_replays_the_clients_commands(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    feed(store, session_id, serve(harness, store), iter(["The cecum was reached.", "Surveillance."]),
         SPEECH, PAUSE, {"name": "insert_template", "template": "normal-colonoscopy"}, PAUSE, SPEECH, PAUSE)

    harness.client.delete(keys.session_lease_key(session_id))  # the first worker died: its lease lapsed
    time.sleep(CLAIM_SCAN_SECONDS)
    feed(store, session_id, serve(harness, store, "w2"), iter(["Inadequate."]),
         {"name": "undo"}, PAUSE, SPEECH, PAUSE)

    last = told(harness.client, session_id)[-3:]
    assert last == [
        {"type": "command", "name": "undo", "applied": True, "said": "", "source": "client",
         "applied_to": {"text": "The cecum was reached. Indication: screening. Preparation: adequate. "
                                "Findings: normal."}},
        {"type": "final", "segment": 1, "revision": 2, "kind": "template",
         "text": "Indication: screening. Preparation: adequate. Findings: normal.",
         "field": {"index": 0, "start": 12, "end": 21}},
        {"type": "final", "segment": 1, "revision": 3, "kind": "template",
         "text": "Indication: inadequate. Preparation: adequate. Findings: normal.",
         "field": {"index": 1, "start": 37, "end": 45}},
    ]
    assert store.get(session_id).commands_applied == 2  # type: ignore[union-attr]


def test_without_dictation_a_client_command_is_an_event_saying_it_did_not_apply(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy", formatting="none")

    feed(store, session_id, serve(harness, store), iter(["The cecum was reached."]),
         SPEECH, PAUSE, {"name": "scratch_that"}, PAUSE)

    assert told(harness.client, session_id) == [
        {"type": "final", "segment": 0, "text": "The cecum was reached."},
        {"type": "command", "name": "scratch_that", "applied": False, "applied_to": None, "said": "",
         "source": "client", "reason": NO_DICTATION},
    ]


def test_stop_dictation_from_the_client_ends_the_session_and_its_job_carries_the_commands(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")
    desk = serve(harness, store)

    feed(store, session_id, desk, iter(["The cecum was reached.", ""]),
         SPEECH, PAUSE, {"name": "new_line"}, {"name": "stop_dictation"}, PAUSE)
    while units := desk.poll(admit=True):
        for unit in units:
            desk.deliver(unit, "")
    assert store.push_command(session_id, {"name": "undo"}) < 0  # ended: no more commands taken

    assert [e["reason"] for e in events(harness.client, session_id) if e["type"] == "ended"] == ["stop_dictation"]
    record = harness.store.get(next(e for e in events(harness.client, session_id) if e["type"] == "ended")["job_id"])
    assert record is not None
    assert record.options.client_commands == [ClientCommand(name="new_line", at=2.0),
                                              ClientCommand(name="stop_dictation", at=2.0)]
    assert not harness.client.exists(keys.session_commands_key(session_id))


def test_a_sessions_job_applies_its_clients_commands_at_their_audio_times() -> None:
    transcript = Transcript(text="The cecum was reached. The sigmoid was reached.", language="en", duration=6.0,
                            segments=[Segment(start=1.0, end=2.0, text="The cecum was reached."),
                                      Segment(start=4.0, end=5.0, text="The sigmoid was reached.")])
    options = JobOptions(note_type="colonoscopy", client_commands=[
        ClientCommand(name="scratch_that", at=3.0), ClientCommand(name="insert_template", template="normal-colonoscopy",
                                                                   at=5.5)])

    done = dictate(transcript, options, lambda: {COLONOSCOPY.name: COLONOSCOPY})

    assert done.text == "The sigmoid was reached. Indication: screening. Preparation: adequate. Findings: normal."
    assert [(c.name, c.source, c.start, c.applied) for c in done.commands or []] == [
        ("scratch_that", "client", 3.0, True), ("insert_template", "client", 5.5, True)]


def test_a_command_that_came_inside_a_segment_goes_between_its_timed_words() -> None:
    said = [("Scratch", 1.0, 1.3), ("that.", 1.3, 1.6), ("Colorectal", 4.0, 4.5), ("cancer", 4.5, 4.8),
            ("screening.", 4.8, 5.4)]
    transcript = Transcript(text="Scratch that. Colorectal cancer screening.", language="en", duration=6.0,
                            segments=[Segment(start=0.8, end=5.5, text="Scratch that. Colorectal cancer screening.",
                                              words=[Word(word=w, start=s, end=e) for w, s, e in said])])
    options = JobOptions(note_type="colonoscopy", client_commands=[
        ClientCommand(name="insert_template", template="normal-colonoscopy", at=2.5)])

    done = dictate(transcript, options, lambda: {COLONOSCOPY.name: COLONOSCOPY})

    assert done.text == "Indication: colorectal cancer screening. Preparation: adequate. Findings: normal."
    assert [(c.name, c.source) for c in done.commands or []] == [("scratch_that", "speech"),
                                                                 ("insert_template", "client")]
