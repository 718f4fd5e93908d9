"""A worker's live sessions, in-process against a real redis-server with the fake transcriber: partials
by LocalAgreement, finals at pauses, the end as a normal job, takeover by another worker, and live
units riding ahead of file jobs in the scheduler's batches."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis

from core import keys
from core.audio_store import RedisAudioStore
from core.jobs import JobOptions, JobStatus
from core.session_store import Appended, SessionMeta, SessionStore
from core.settings import LiveSettings
from core.tuning import LiveTuning
from core.vocabulary import decoding_prompt
from tests.fakes import Harness, live_harness, loud_windows, tone_pcm, tone_wav
from worker.context import JobContext
from worker.jobs.run import RunOutcome
from worker.live.desk import CLAIM_SCAN_SECONDS, LiveDesk
from worker.live.endpointing import CutKind
from worker.model.transcriber import DecodeRequest, Window, WindowText
from worker.schedule.batching import pick_batch
from worker.schedule.loop import run_round

CHUNK = 6400  # 200 ms


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return live_harness(clean_redis)


def context(h: Harness, worker: str = "test-worker") -> JobContext:
    ctx = h.context(worker)
    ctx.live = LiveSettings(idle_timeout_seconds=30, tuning=LiveTuning(
        partial_seconds=0.5, endpoint_check_seconds=0.2, endpoint_silence_seconds=0.6,
        endpoint_min_silence_seconds=0.6, endpoint_short_utterance_seconds=0))
    return ctx


def new_session(store: SessionStore, **options: Any) -> str:
    meta = SessionMeta(id=f"s-{time.monotonic_ns()}", tenant="owner-1", options=JobOptions(**options),
                       job_id=f"j-{time.monotonic_ns()}", created_at=time.time(), base_url="http://api")
    assert store.create(meta, max_per_tenant=4) is None
    return meta.id


def stream(store: SessionStore, session_id: str, pcm: bytes, desk: LiveDesk, h: Harness) -> None:
    """Append `pcm` a chunk at a time, letting the desk decode (synchronously) after each."""
    seq = store.get(session_id).next_seq  # type: ignore[union-attr]
    for start in range(0, len(pcm), CHUNK):
        store.append(session_id, seq, pcm[start:start + CHUNK], max_bytes=10**9)
        seq += 1
        drive(desk, h)


def drive(desk: LiveDesk, h: Harness) -> None:
    while units := desk.poll(admit=True):
        for unit in units:
            desk.deliver(unit, h.models.decode([unit.request(0)])[0].text)


def long_job_beside_a_session(harness: Harness) -> tuple[str, SessionStore, str]:
    """An 8 s file job (4 windows) and a session with 0.5 s of speech, on a CPU-like fake (batch 4)."""
    harness.models.batch_size = 4
    harness.models.speech = None
    harness.models.steps = 4
    long_job = harness.submit(tone_wav(8.0))
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    return long_job, store, session_id


def events(client: redis.Redis, session_id: str) -> list[dict[str, Any]]:
    return [json.loads(fields[b"e"]) for _, fields in client.xrange(keys.session_events_key(session_id))]


def test_partials_grow_by_agreement_and_each_pause_makes_a_final_prompted_by_the_previous_one(
    harness: Harness,
) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    desk = LiveDesk(context(harness), harness.models.info(), store)

    stream(store, session_id, tone_pcm(2.0) + tone_pcm(1.0, 0) + tone_pcm(1.0) + tone_pcm(1.0, 0), desk, harness)

    assert events(harness.client, session_id) == [
        {"type": "partial", "text": "w0", "start": 0.0},
        {"type": "partial", "text": "w0 w1", "start": 0.0},
        {"type": "partial", "text": "w0 w1 w2", "start": 0.0},
        {"type": "final", "segment": 0, "text": "w0 w1 w2 w3", "start": 0.0, "end": 2.2},
        {"type": "partial", "text": "w0 w1", "start": 2.8},
        {"type": "final", "segment": 1, "text": "w0 w1", "start": 2.8, "end": 4.2},
    ]
    # The second utterance's units are prompted with the first's final text, then the vocabulary (the
    # job's own prompt), cut to a fixed number of tokens.
    vocabulary, _ = decoding_prompt(JobOptions(), harness.settings.vocabulary)
    assert harness.models.prompts[-1] == f"w0 w1 w2 w3 {vocabulary}"
    assert harness.models.prompts[0] == vocabulary


def test_each_look_for_the_pause_runs_vad_over_the_new_audio_only_however_long_the_utterance(
    harness: Harness,
) -> None:
    looked_at: list[float] = []

    def speech(audio: Any) -> list[Window]:
        looked_at.append(audio.size / 16000)
        return loud_windows(audio)

    harness.models.speech = speech
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    desk = LiveDesk(context(harness), harness.models.info(), store)

    stream(store, session_id, tone_pcm(16.0) + tone_pcm(1.0, 0), desk, harness)

    finals = [e for e in events(harness.client, session_id) if e["type"] == "final"]
    assert [(f["start"], f["end"]) for f in finals] == [(0.0, 16.2)]  # one utterance, cut at its pause
    # Not the whole 16 s: each look hears the audio after the settled part (1.5 s before the end, or at
    # most 6 s before that, where speech starts), and 1 s before it.
    assert len(looked_at) > 60 and max(looked_at) <= 9.0, looked_at


def test_a_client_that_stops_sending_mid_utterance_gets_its_final_after_a_real_stops_length(harness: Harness) -> None:
    # Push to talk: a few words, then no audio at all (not silence): the utterance ends as at a stop.
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    ctx = context(harness)
    ctx.live = LiveSettings(tuning=LiveTuning(partial_seconds=0.5, endpoint_check_seconds=0.2,
                                               endpoint_short_silence_seconds=0.5))
    desk = LiveDesk(ctx, harness.models.info(), store)

    stream(store, session_id, tone_pcm(1.2), desk, harness)
    assert not [e for e in events(harness.client, session_id) if e["type"] == "final"]
    time.sleep(0.6)  # past the 0.5 s short silence: the utterance's end is due
    drive(desk, harness)

    assert [(e["start"], e["end"]) for e in events(harness.client, session_id) if e["type"] == "final"] == [(0.0, 1.2)]
    assert store.get(session_id).status.value == "open"  # type: ignore[union-attr]


def test_a_pause_found_while_a_partial_waits_makes_the_final_at_once_and_the_partial_stale(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    desk = LiveDesk(context(harness), harness.models.info(), store)
    store.append(session_id, 0, tone_pcm(1.2), max_bytes=10**9)
    [partial] = desk.poll(admit=True)
    store.append(session_id, 1, tone_pcm(1.0, 0), max_bytes=10**9)  # the pause, while the partial waits

    [final] = desk.poll(admit=True)

    assert (partial.cut.kind, final.cut.kind) == (CutKind.PARTIAL, CutKind.FINAL)
    assert partial.stale and partial.remaining == 0  # the scheduler drops it unless it is in the model
    desk.deliver(partial, "w0 w1 junk")
    desk.deliver(final, "w0 w1")
    assert events(harness.client, session_id) == [
        {"type": "final", "segment": 0, "text": "w0 w1", "start": 0.0, "end": 1.4}]


def test_units_of_sessions_with_different_previous_finals_share_one_batch(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    first, second = new_session(store, note_type="colonoscopy"), new_session(store)
    desk = LiveDesk(context(harness), harness.models.info(), store)
    store.append(first, 0, tone_pcm(2.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    store.append(second, 0, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    drive(desk, harness)  # each session's first final: "w0 w1 w2 w3" and "w0 w1"
    store.append(first, 1, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    store.append(second, 1, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)

    units = desk.poll(admit=True)

    assert len(units) == 2 and units[0].prompt != units[1].prompt
    assert len(pick_batch(units, 4)) == 2  # one batch: their prompts are cut to one token count


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_on_an_accelerator_a_short_and_a_long_final_due_together_share_one_batch(harness: Harness,
                                                                                 device: str) -> None:
    # One session said 1 s and paused, the other 9 s: on a GPU both finals go in one forward pass (one
    # window length); on a CPU the short one takes a 15 s window at half the encoder's work, alone.
    store = SessionStore(harness.client, 3600)
    short, long = new_session(store), new_session(store)
    store.append(short, 0, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    store.append(long, 0, tone_pcm(9.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    info = replace(harness.models.info(), device=device, batch_size=16)
    desk = LiveDesk(context(harness), info, store)

    units = desk.poll(admit=True)

    assert sorted((u.cut.kind.value, u.window_seconds) for u in units) == [
        ("final", 15.0 if device == "cpu" else 30.0), ("final", 30.0)]
    assert len(pick_batch(units, 16)) == (2 if device == "cuda" else 1)


def test_ending_makes_the_rest_a_final_and_the_whole_session_a_queued_job_with_its_options(
    harness: Harness,
) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, hotwords="cecum")
    desk = LiveDesk(context(harness), harness.models.info(), store)
    stream(store, session_id, tone_pcm(1.0), desk, harness)

    store.request_end(session_id, "end")
    drive(desk, harness)

    told = events(harness.client, session_id)
    state = store.get(session_id)
    assert state is not None
    assert told[-2:] == [
        {"type": "final", "segment": 0, "text": "w0 w1", "start": 0.0, "end": 1.0},
        {"type": "ended", "job_id": state.meta.job_id, "result_url": f"http://api/v1/jobs/{state.meta.job_id}/result",
         "reason": "end"},
    ]
    job = harness.store.get(state.meta.job_id)
    assert (job.status, job.tenant, job.options.hotwords) == (JobStatus.QUEUED, "owner-1", "cecum")
    assert len(harness.store.get_audio(state.meta.job_id) or b"") == 44 + 32000
    assert not harness.client.exists(keys.session_audio_key(session_id))
    assert harness.client.zscore(keys.READY, state.meta.job_id) is not None
    assert harness.client.zcard(keys.LIVE_SESSIONS) == 0 and not desk.held


def test_a_session_whose_worker_died_is_taken_over_where_its_last_final_left_off(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    first = LiveDesk(context(harness, "w1"), harness.models.info(), store)
    stream(store, session_id, tone_pcm(1.0) + tone_pcm(1.0, 0), first, harness)
    second = LiveDesk(context(harness, "w2"), harness.models.info(), store)
    assert second.poll(admit=True) == [] and not second.held  # held by the first

    harness.client.delete(keys.session_lease_key(session_id))  # the first worker died: its lease lapsed
    time.sleep(CLAIM_SCAN_SECONDS)  # the second looks for unserved sessions again
    stream(store, session_id, tone_pcm(1.0) + tone_pcm(1.0, 0), second, harness)

    finals = [e for e in events(harness.client, session_id) if e["type"] == "final"]
    assert [(f["segment"], f["start"], f["end"]) for f in finals] == [(0, 0.0, 1.2), (1, 1.8, 3.2)]


def test_a_live_utterance_rides_in_the_next_batch_ahead_of_a_long_job_and_its_job_runs_in_the_same_round(
    harness: Harness,
) -> None:
    harness.models.batch_size = 2
    harness.models.speech = None
    harness.models.steps = 4
    harness.models.reply = lambda r: f"{r.audio.size / 16000:.1f} s"
    store = SessionStore(harness.client, 3600)
    long_job = harness.submit(tone_wav(8.0))
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    store.request_end(session_id, "end")

    outcomes = run_round(long_job, context(harness))

    session_job = store.get(session_id).meta.job_id  # type: ignore[union-attr]
    assert outcomes == {long_job: RunOutcome.COMPLETED, session_job: RunOutcome.COMPLETED}
    # The session's last utterance (its window is the 4 steps' whole 0.5 s) leads the first batch.
    assert [seconds for _, seconds in harness.models.batches[0]] == [0.5]
    assert harness.store.get_result(session_job) is not None


def test_chunks_are_stored_once_in_order_within_the_limit_and_not_after_the_end(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)

    chunk = b"\0\1" * 320  # 20 ms, the shortest stored
    results = [store.append(session_id, 0, chunk, 2000), store.append(session_id, 0, chunk, 2000),
               store.append(session_id, 2, chunk, 2000), store.append(session_id, 1, chunk * 3, 2000)]
    store.request_end(session_id, "end")
    results.append(store.append(session_id, 1, chunk, 2000))

    assert results == [(Appended.STORED, 1), (Appended.DUPLICATE, 1), (Appended.GAP, 1), (Appended.TOO_LONG, 1),
                       (Appended.CLOSED, 1)]
    assert store.read_audio(session_id, 0) == chunk


def test_a_key_may_hold_only_so_many_open_sessions_and_an_ended_one_frees_its_place(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    first = new_session(store)
    for _ in range(3):
        new_session(store)

    refused = SessionMeta(id="s-5", tenant="owner-1", job_id="j-5", created_at=time.time())
    assert store.create(refused, max_per_tenant=4) == 4
    store.end_as_job(first, harness.store, RedisAudioStore(harness.client))
    assert store.create(refused, max_per_tenant=4) is None


def test_a_waiting_final_is_decoded_before_any_partial(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    talking, paused = new_session(store), new_session(store)
    store.append(talking, 0, tone_pcm(1.0), max_bytes=10**9)
    store.append(paused, 0, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    desk = LiveDesk(context(harness), harness.models.info(), store)

    units = desk.poll(admit=True)

    assert sorted((u.session.id, u.cut.kind.value) for u in units) == sorted([(talking, "partial"), (paused, "final")])
    assert [(u.session.id, u.cut.kind.value) for u, _ in pick_batch(units, 1)] == [(paused, "final")]


def test_on_a_cpu_file_work_goes_a_window_at_a_time_while_a_session_is_served(harness: Harness) -> None:
    long_job, store, session_id = long_job_beside_a_session(harness)
    ctx = context(harness)
    # The session ends by itself a second after its audio; file work is not held back.
    ctx.live = LiveSettings(idle_timeout_seconds=1, tuning=LiveTuning(file_window_every_seconds=0))

    run_round(long_job, ctx)

    assert store.get(session_id).status.value == "ended"  # type: ignore[union-attr]
    # The session's own job too, after it ended: a session served lately means the next may come soon.
    assert [len(batch) for batch in harness.models.batches] == [1] * 9


@pytest.mark.parametrize("lanes", [1, 2])
def test_on_a_cpu_file_work_waits_while_a_session_is_mid_utterance_but_gets_a_window_every_so_often(
    harness: Harness, lanes: int,
) -> None:
    # With two lanes too: a file window on the second lane all the time would leave every session's
    # finals one lane to queue on.
    long_job, _, _ = long_job_beside_a_session(harness)  # a session with speech, no pause after it yet
    harness.models.lanes = lanes
    ctx = context(harness)
    # The client keeps its connection but sends nothing: a stop (and so the final) only at the idle timeout.
    ctx.live = LiveSettings(idle_timeout_seconds=1.5, tuning=LiveTuning(file_window_every_seconds=1.0,
                                                                       endpoint_short_silence_seconds=5))

    run_round(long_job, ctx)

    # The long job's first window, then one more a second later while the utterance was open; its
    # final when the session went quiet; then, the session ended, the rest (with the session's job) a
    # window at a time.
    windows = [[seconds for _, seconds in batch] for batch in harness.models.batches]
    assert windows[:3] == [[2.0], [2.0], [0.5]] and [len(w) for w in windows[3:]] == [1] * 6, windows


@pytest.mark.parametrize("lanes", [2, 1])
def test_with_two_lanes_a_final_due_while_a_file_window_decodes_does_not_wait_for_it(
    harness: Harness, lanes: int,
) -> None:
    # An 8 s file job in 2 s windows; a session that says a word (0.5 s) and pauses while the job's first
    # window decodes, which takes seconds (a CPU): with a second lane the final decodes meanwhile.
    harness.models.lanes = lanes
    harness.models.speech = lambda audio: ([Window(2.0 * n, 2.0 * n + 2) for n in range(4)] if audio.size > 5 * 16000
                                           else loud_windows(audio))
    long_job = harness.submit(tone_wav(8.0))
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    overlapped: list[bool] = []

    def first_window_decodes(step: int) -> None:
        if step != 0:
            return
        store.append(session_id, 0, tone_pcm(0.5) + tone_pcm(1.0, 0), max_bytes=10**9)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(e["type"] == "final" for e in events(harness.client, session_id)):
            time.sleep(0.05)  # a final may come while this window decodes
        overlapped.append(any(e["type"] == "final" for e in events(harness.client, session_id)))

    harness.models.during = first_window_decodes
    ctx = context(harness)
    ctx.live = LiveSettings(idle_timeout_seconds=1, tuning=LiveTuning(
        endpoint_check_seconds=0.2, endpoint_silence_seconds=0.6, endpoint_short_utterance_seconds=0))

    run_round(long_job, ctx)

    # The first batch is the file window (the session had no audio yet); the final came while it decoded.
    assert overlapped == [lanes > 1]
    assert [seconds for batch in harness.models.batches for _, seconds in batch].count(2.0) == 4
    assert harness.store.get(long_job).status is JobStatus.COMPLETED  # type: ignore[union-attr]


def overlapping_file_batches(harness: Harness, seconds: float) -> list[int]:
    """Make each batch take `seconds`; the list gets, per file batch, how many other file batches were
    decoding as it started (a live unit's request has a token cap; a file window's has none)."""
    active: list[int] = []
    overlaps: list[int] = []
    decode = harness.models.decode

    def decoding(batch: Sequence[DecodeRequest]) -> list[WindowText]:
        if any(r.max_tokens is not None for r in batch):
            return decode(batch)
        overlaps.append(len(active))
        active.append(id(batch))
        time.sleep(seconds)
        try:
            return decode(batch)
        finally:
            active.remove(id(batch))

    harness.models.decode = decoding  # type: ignore[method-assign]
    return overlaps


def test_on_a_cpu_with_two_lanes_a_partial_waits_while_a_final_decodes_so_the_next_final_finds_a_lane(
    harness: Harness,
) -> None:
    # One session paused after a word (its final is due), another talks on (a partial is due), both at
    # the round's first look: the final goes first, and the partial only once it has landed.
    harness.models.lanes = 2
    store = SessionStore(harness.client, 3600)
    paused, talking = new_session(store), new_session(store)
    store.append(paused, 0, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    store.append(talking, 0, tone_pcm(3.0), max_bytes=10**9)
    spans: list[tuple[float, float]] = []
    decode = harness.models.decode

    def slowly(batch: Sequence[DecodeRequest]) -> list[WindowText]:
        if all(r.max_tokens is not None for r in batch):  # a live unit (the sessions' jobs come after)
            started = time.monotonic()
            time.sleep(0.3)
            spans.append((started, time.monotonic()))
        return decode(batch)

    harness.models.decode = slowly  # type: ignore[method-assign]
    ctx = context(harness)
    ctx.live = LiveSettings(idle_timeout_seconds=1, tuning=LiveTuning(
        partial_seconds=0.5, endpoint_check_seconds=0.2, endpoint_silence_seconds=0.6,
        endpoint_short_utterance_seconds=0))

    run_round(None, ctx)

    assert [e["type"] for e in events(harness.client, paused)][:1] == ["final"]
    assert len(spans) == 3  # the final, the partial, the talking session's last final when it went quiet
    overlapping = [(a, b) for n, a in enumerate(spans) for b in spans[n + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlapping == [], spans


@pytest.mark.parametrize("served", [False, True])
def test_on_a_cpu_with_two_lanes_a_round_that_just_served_a_session_keeps_a_lane_free_of_file_batches(
    harness: Harness, served: bool,
) -> None:
    # Two 16 s file jobs in 2 s windows (batches of 4); a round that served a session (it said a word
    # and ended) keeps a lane for the next session's first final; one that served none uses both.
    harness.models.lanes, harness.models.batch_size, harness.models.speech = 2, 4, None
    harness.models.steps = 8
    jobs = [harness.submit(tone_wav(16.0)) for _ in range(2)]
    if served:
        store = SessionStore(harness.client, 3600)
        session_id = new_session(store)
        store.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
        store.request_end(session_id, "client")
    overlaps = overlapping_file_batches(harness, 0.2)
    ctx = context(harness)

    outcomes = run_round(jobs[0], ctx)

    assert [outcomes[job] for job in jobs] == [RunOutcome.COMPLETED] * 2
    assert len(overlaps) >= 4
    assert (max(overlaps) == 0) is served, overlaps
    # A window at a time after serving (a CPU decodes four windows in one batch no faster), else by four.
    assert {len(batch) for batch in harness.models.batches if len(batch) > 1} == (set() if served else {4})


def test_a_session_whose_worker_is_gone_is_found_unserved(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    served, orphan = new_session(store), new_session(store)
    assert store.claim(served, "w1/abc", 60)

    assert store.unserved() == [orphan]


@pytest.mark.parametrize(("dictation", "chunk"), [("colon02", CHUNK), ("colon04", CHUNK), ("colon01", CHUNK // 2),
                                                  ("colon04", CHUNK // 2)])
def test_each_pause_ends_its_utterance_when_it_is_heard_not_seconds_later(
    harness: Harness, dictation: str, chunk: int,
) -> None:
    # Real speech (dev-set dictations, the Piper voice) and the real live VAD (Silero), streamed in
    # 200 or 100 ms chunks and looked at as a worker does: a look that starts VAD afresh mid-utterance
    # once found onsets late, and so pauses that are not there, 1.5-2 s after the real ones had passed;
    # and VAD moving a word's edges between looks made a pause judged too short long enough later.
    import numpy as np

    from bench.devset.script import MANIFEST
    from core.settings import WorkerSettings
    from worker.live.endpointing import LONG_UTTERANCE_SECONDS
    from worker.model.decoding import decode_audio
    from worker.model.model_manager import ModelManager

    clip = next(c for c in json.loads(MANIFEST.read_text())
                if c["id"] == dictation and c["voice"] == "joe" and not c["noise_snr_db"])
    audio = decode_audio((MANIFEST.parent / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    harness.models.speech = ModelManager(WorkerSettings()).utterance_speech  # Silero only: no Whisper model
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    ctx = context(harness)
    ctx.live = LiveSettings()  # the defaults a worker runs with
    desk = LiveDesk(ctx, harness.models.info(), store)
    late: list[tuple[float, float]] = []
    for seq, start in enumerate(range(0, len(pcm), chunk)):
        store.append(session_id, seq, pcm[start:start + chunk], max_bytes=10**9)
        heard = min(len(pcm), start + chunk) / 32000
        while units := desk.poll(admit=True):
            for unit in units:
                end = unit.offset + unit.cut.end
                # A breath (a gap under endpoint_silence_seconds) ends only a long utterance, and VAD may
                # find so short a gap a look or two after it passed: such a cut may come up to 1.2 s late.
                breath = unit.cut.end - unit.cut.start >= LONG_UTTERANCE_SECONDS
                if unit.cut.kind is CutKind.FINAL and heard - end > (1.2 if breath else 0.8):
                    late.append((round(end, 2), heard))
                desk.deliver(unit, "words")

    assert len([e for e in events(harness.client, session_id) if e["type"] == "final"]) >= 3
    assert late == []
