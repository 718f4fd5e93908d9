"""A worker's live sessions are bounded, in-process against a real redis-server with the fake transcriber:
a round hands its sessions over at its time limit, a session ends when its audio stops growing or it has
been open too long, any worker serves sessions beyond the oldest few, and a look at a flooded session
reads and hears a bounded stretch, off the scheduler's thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from core import keys
from core.jobs import JobStatus
from core.session_store import BYTES_PER_SECOND, SessionMeta, SessionStore
from core.settings import LiveSettings
from core.tuning import LiveTuning
from tests.fakes import Harness, live_harness, loud_windows, tone_pcm, tone_wav
from tests.integration.test_live_desk import context, drive, events, new_session
from worker.jobs.run import RunOutcome
from worker.live.desk import LiveDesk
from worker.model.transcriber import Window
from worker.schedule.loop import Round, run_round


@pytest.fixture()
def harness(clean_redis: redis.Redis) -> Harness:
    return live_harness(clean_redis)


def feed(store: SessionStore, session_id: str, stop: threading.Event, pattern: bytes,
         seconds: float = 8.0) -> threading.Thread:
    """A client streaming `pattern` over and over, in 100 ms chunks at the pace of speech, until `stop`
    (or for `seconds` at most)."""

    def run() -> None:
        seq, offset, until = 0, 0, time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < until:
            store.append(session_id, seq, pattern[offset:offset + 3200], max_bytes=10**9)
            seq, offset = seq + 1, (offset + 3200) % len(pattern)
            time.sleep(0.1)  # 100 ms of audio every 100 ms: a client talking in real time

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def finals(h: Harness, session_id: str) -> list[dict[str, Any]]:
    return [e for e in events(h.client, session_id) if e["type"] == "final"]


def test_a_round_past_its_time_limit_hands_its_sessions_over_and_ends_and_the_queue_is_served(
    harness: Harness,
) -> None:
    # A client that talks without end: before, the round served it for as long as it talked, so its
    # task never ended and, with one worker, a job queued meanwhile waited for the session to end.
    harness.settings = harness.settings.model_copy(update={"job_time_limit_seconds": 1.5})
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    stop = threading.Event()
    feeder = feed(store, session_id, stop, tone_pcm(1.0) + tone_pcm(1.0, 0))
    time.sleep(1.0)  # the session has a final due when the round starts
    ctx = context(harness)
    ctx.live = ctx.live.model_copy(update={"idle_timeout_seconds": 1.0})
    queued: list[str] = []
    threading.Timer(1.8, lambda: queued.append(harness.submit(tone_wav(2.0)))).start()  # past the round's limit
    woken: list[bool] = []
    try:
        started = time.monotonic()
        Round(ctx, wake=lambda: woken.append(True)).run(None)
        took = time.monotonic() - started
        served_after = store.is_served(session_id)
        told = len(finals(harness, session_id))
        time.sleep(0.4)  # the client talks on between the two rounds

        # The next round (the queued job's task message; or the wake task) runs the job and serves the session.
        outcomes = run_round(queued[0], ctx)
    finally:
        stop.set()
        feeder.join()

    assert took < 3.0 and woken == [True] and not served_after
    assert told >= 1
    assert outcomes[queued[0]] is RunOutcome.COMPLETED
    assert harness.store.get(queued[0]).status is JobStatus.COMPLETED  # type: ignore[union-attr]
    segments = [f["segment"] for f in finals(harness, session_id)]
    assert len(segments) > told and segments == list(range(len(segments)))  # taken over where it left off
    assert store.get(session_id).status.value == "open"  # type: ignore[union-attr]


def test_a_session_fed_only_empty_chunks_ends_at_its_idle_timeout(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    ctx = context(harness)
    ctx.live = LiveSettings(idle_timeout_seconds=1.0)
    desk = LiveDesk(ctx, harness.models.info(), store)
    store.append(session_id, 0, tone_pcm(0.5) + tone_pcm(1.0, 0), max_bytes=10**9)
    drive(desk, harness)

    # Empty frames are acked, and (before the store stops that) refresh `last_audio_at`: the worker
    # judges idleness by its audio growing, so they do not keep the session open.
    deadline = time.monotonic() + 3.0
    seq = 1
    while time.monotonic() < deadline and store.get(session_id).status.value == "open":  # type: ignore[union-attr]
        store.append(session_id, seq, b"", max_bytes=10**9)
        seq += 1
        drive(desk, harness)
        time.sleep(0.05)  # an empty frame every 50 ms
    drive(desk, harness)

    assert store.get(session_id).status.value == "ended"  # type: ignore[union-attr]
    told = events(harness.client, session_id)
    assert [e["code"] for e in told if e["type"] == "error"] == ["idle_timeout"]
    assert told[-1]["type"] == "ended" and told[-1]["reason"] == "idle_timeout"


def test_a_session_open_past_its_wall_clock_cap_is_ended_by_its_worker(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    meta = SessionMeta(id="s-old", tenant="owner-1", job_id="j-old", created_at=time.time() - 61, base_url="http://api")
    assert store.create(meta, max_per_tenant=4) is None
    ctx = context(harness)
    ctx.live = LiveSettings(max_session_wall_seconds=60)
    desk = LiveDesk(ctx, harness.models.info(), store)

    # Still sending audio (or anything that keeps it from going idle): the cap ends it anyway.
    store.append(meta.id, 0, tone_pcm(0.5) + tone_pcm(1.0, 0), max_bytes=10**9)
    drive(desk, harness)

    told = events(harness.client, meta.id)
    assert [(e["type"], e.get("code")) for e in told] == [
        ("error", "session_too_long"), ("final", None), ("ended", None)]
    assert told[-1]["reason"] == "session_too_long"
    assert harness.store.get("j-old").status is JobStatus.QUEUED  # type: ignore[union-attr]


def test_the_wall_clock_cap_defaults_to_twice_the_audio_limit_and_the_idle_timeout() -> None:
    assert LiveSettings().max_session_wall_seconds == 2 * 1800 + 30
    assert LiveSettings(max_session_seconds=600, idle_timeout_seconds=10).max_session_wall_seconds == 1210
    assert LiveSettings(max_session_wall_seconds=900).max_session_wall_seconds == 900


def test_a_new_desk_serves_sessions_behind_hundreds_held_by_other_workers(harness: Harness) -> None:
    # Before, a desk claimed only from the 2 x sessions_per_worker oldest sessions: once those were
    # held, no worker ever served a newer one.
    store = SessionStore(harness.client, 3600)
    ids = []
    for n in range(300):
        meta = SessionMeta(id=f"s-{n:03}", tenant=f"owner-{n}", job_id=f"j-{n:03}", created_at=time.time() + n)
        assert store.create(meta, max_per_tenant=0) is None
        ids.append(meta.id)
    middle, newest = ids[170], ids[-1]
    for session_id in ids:
        if session_id not in (middle, newest):
            assert store.claim(session_id, "other-worker/abc", 60)
    ctx = context(harness)
    ctx.live = LiveSettings(sessions_per_worker=4)
    desk = LiveDesk(ctx, harness.models.info(), store)

    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and len(desk.held) < 2:
        desk.poll(admit=True)
        time.sleep(0.02)  # between two looks of the desk, as a worker's loop

    assert set(desk.held) == {middle, newest}
    assert store.unserved() == []


def test_unserved_sessions_are_found_past_the_first_thousand(harness: Harness) -> None:
    store = SessionStore(harness.client, 3600)
    pipe = harness.client.pipeline()
    for n in range(1200):
        pipe.zadd(keys.LIVE_SESSIONS, {f"s-{n:04}": n})
        if n != 1100:
            pipe.set(keys.session_lease_key(f"s-{n:04}"), "w", px=60_000)
    pipe.execute()

    assert store.unserved() == ["s-1100"]


def test_a_look_at_a_flooded_session_reads_and_hears_a_bounded_stretch_and_the_finals_catch_up(
    harness: Harness,
) -> None:
    # 60 s of dictation (2 s of speech, 1 s of pause) stored at once, before any look: before, each look
    # read and ran VAD over everything after the committed point (seconds of CPU per look).
    heard: list[float] = []
    read: list[int] = []

    def speech(audio: Any) -> list[Window]:
        heard.append(audio.size / 16000)
        return loud_windows(audio)

    class CountingStore(SessionStore):
        def read_audio(self, session_id: str, start_byte: int, end_byte: int | None = None) -> bytes:
            pcm = super().read_audio(session_id, start_byte, *([] if end_byte is None else [end_byte]))
            read.append(len(pcm))
            return pcm

    harness.models.speech = speech
    store = CountingStore(harness.client, 3600)
    session_id = new_session(store)
    ctx = context(harness)
    ctx.live = LiveSettings(idle_timeout_seconds=30, tuning=LiveTuning(
        partial_seconds=0.5, endpoint_check_seconds=0.2, endpoint_silence_seconds=0.6,
        endpoint_min_silence_seconds=0.6, endpoint_short_utterance_seconds=0, max_utterance_seconds=20))
    desk = LiveDesk(ctx, harness.models.info(), store)
    store.append(session_id, 0, (tone_pcm(2.0) + tone_pcm(1.0, 0)) * 20, max_bytes=10**9)

    drive(desk, harness)
    store.request_end(session_id, "end")
    drive(desk, harness)

    bound = 20 + 1.0 + 1.5 + 0.01  # the longest utterance, the VAD's context before it, the settling margin
    assert heard and max(heard) <= bound, max(heard)
    assert read and max(read) <= bound * BYTES_PER_SECOND, max(read) / BYTES_PER_SECOND
    # Each utterance cut at its pause, as if streamed; the last, at the end, runs to the end of the audio.
    assert [(f["start"], f["end"]) for f in finals(harness, session_id)] == [
        (max(0.0, round(3.0 * n - 0.2, 3)), round(3.0 * n + 2.2, 3)) for n in range(19)] + [(56.8, 60.0)]
    assert store.get(session_id).status.value == "ended"  # type: ignore[union-attr]


def test_a_file_jobs_batch_launches_while_a_slow_look_runs(harness: Harness) -> None:
    # A look's VAD is slow (a flooded session on a busy CPU): the file job's windows must not wait for it.
    looks: list[tuple[float, float]] = []
    batches: list[float] = []

    def slow_speech(audio: Any) -> list[Window]:
        started = time.monotonic()
        time.sleep(0.6)  # the slow look itself
        looks.append((started, time.monotonic()))
        return loud_windows(audio)

    harness.models.speech = None
    harness.models.utterance_speech = slow_speech  # type: ignore[method-assign]
    harness.models.steps = 3
    harness.models.during = lambda step: batches.append(time.monotonic())
    job_id = harness.submit(tone_wav(3.0))
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store)
    store.append(session_id, 0, tone_pcm(1.0) + tone_pcm(1.0, 0), max_bytes=10**9)
    store.request_end(session_id, "end")
    ctx = context(harness)
    ctx.live = LiveSettings(idle_timeout_seconds=30, tuning=LiveTuning(file_window_every_seconds=0))

    outcomes = run_round(job_id, ctx)

    assert outcomes[job_id] is RunOutcome.COMPLETED
    assert store.get(session_id).status.value == "ended"  # type: ignore[union-attr]
    first_look = looks[0]
    assert any(first_look[0] < at < first_look[1] for at in batches), (looks, batches)
