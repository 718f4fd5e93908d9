"""A live session's streams at their edges: what the WebSocket and the SSE stream refuse, how they are
counted and how they end (real API processes and Redis; no worker, so sessions only ever stay open)."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from api import session_tokens
from core import keys
from tests.live import CHUNK_BYTES, LiveClient
from tests.polling import eventually
from tests.services import Process, start_api, start_redis

SECRET = "stream-token-secret-of-the-tests"
KEYS = [f"clinic-{n}-key" for n in range(16)]
LIVE_ENV = {
    "ENDOSCRIBE_API_KEYS": json.dumps(KEYS),
    "ENDOSCRIBE_LIVE_TOKEN_SECRET": SECRET,
    "ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS": "2",
    "ENDOSCRIBE_LIVE_MAX_AUDIO_AHEAD_SECONDS": "1",
    "ENDOSCRIBE_LIVE_MAX_STREAMS_PER_KEY": "2",
    "ENDOSCRIBE_LIVE_STREAM_LEASE_SECONDS": "2",
    "ENDOSCRIBE_LIVE_TOKEN_GRACE_SECONDS": "0",
    "ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY": "0",
    "ENDOSCRIBE_QUOTA_REQUEST_RATE": "30/minute",
}


@dataclass
class Stack:
    url: str
    base: str
    replica: str
    tmp: Path
    redis: redis.Redis


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("streams")
    redis_proc, url = start_redis(tmp)
    api, base = start_api(url, tmp, **LIVE_ENV)
    replica, replica_base = start_api(url, tmp, **LIVE_ENV)
    yield Stack(url, base, replica_base, tmp, redis.Redis.from_url(url))
    replica.stop()
    api.stop()
    redis_proc.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def open_session(base: str, key: str, **options: Any) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/sessions", json=options, headers=auth(key), timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def token_of(url: str) -> str:
    return str(httpx.URL(url).params["token"])


def connected(url: str) -> LiveClient:
    live = LiveClient(url)
    live.wait_for(lambda: bool(live.messages), 10)
    return live


def closed(live: LiveClient, timeout: float = 10) -> LiveClient:
    live.thread.join(timeout)
    assert not live.thread.is_alive(), live.messages
    return live


@dataclass
class SseClient:
    """One SSE stream read in a thread: its status, its events, and whether the server ended it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None
    body: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None

    def __post_init__(self) -> None:
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=60))
        threading.Thread(target=self._read, daemon=True).start()
        assert self.started.wait(10), "no answer to the SSE request"

    def _read(self) -> None:
        kind = ""
        try:
            with self.client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                self.started.set()
                for line in response.iter_lines():
                    self.body += line + "\n"
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:"):
                        self.events.append({"event": kind, **json.loads(line.split(":", 1)[1])})
        except BaseException as exc:  # noqa: BLE001 - closing the client ends the read too
            self.failure = exc
        finally:
            self.started.set()
            self.ended.set()

    def close(self) -> None:
        self.client.close()
        self.ended.wait(5)


# ---- chunks and the idle clock -------------------------------------------------------------------


def test_empty_and_sub_20_ms_chunks_are_refused_and_do_not_keep_a_session_open(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[0])
    live = connected(session["stream_url"])

    for piece in [b"", b"\0\0", bytes(638)] * 5:  # every 0.3 s for 4.5 s, past the 2 s idle timeout
        live.ws.send(piece)
        time.sleep(0.3)  # one refused chunk every 0.3 s
    live.wait_for(lambda: bool([e for e in live.of("error") if e["code"] == "idle_timeout"]), 5)

    codes = [e["code"] for e in live.of("error")]
    assert set(codes) == {"chunk_too_short", "idle_timeout"} and codes.count("idle_timeout") == 1, codes
    assert "640 bytes" in live.of("error")[0]["message"]
    assert live.of("ack") == []
    # The idle timeout counts from the last real audio (none): the tiny chunks did not hold it off.
    assert codes.index("idle_timeout") <= 8, codes  # about 2 s of messages every 0.3 s, not all 15
    state = stack.redis.hgetall(keys.session_key(session["id"]))
    assert (state[b"status"], state[b"next_seq"], state[b"audio_bytes"]) == (b"ending", b"0", b"0")
    live.drop()


def test_text_messages_do_not_hold_off_the_idle_timeout(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[1])
    live = connected(session["stream_url"])
    live.ws.send(bytes(CHUNK_BYTES))  # 200 ms of real audio, then only talk
    started = time.monotonic()

    while not live.of("error") and time.monotonic() - started < 6:
        live.ws.send(json.dumps({"type": "resume", "seq": 1}))
        time.sleep(0.2)  # five messages a second, none of them audio

    assert [e["code"] for e in live.of("error")] == ["idle_timeout"]
    assert 1.5 < time.monotonic() - started < 3.5
    assert [a["seq"] for a in live.of("ack")] == [0]
    live.drop()


# ---- pacing --------------------------------------------------------------------------------------


def test_audio_sent_faster_than_real_time_is_held_to_the_clock_and_none_of_it_is_lost(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[2])
    created = time.monotonic()
    live = connected(session["stream_url"])
    pieces = [bytes([n]) * CHUNK_BYTES for n in range(20)]  # 4 s of audio, sent at once

    for piece in pieces:
        live.ws.send(piece)
    live.wait_for(lambda: len(live.of("ack")) == len(pieces), 10)

    # Each chunk is acknowledged once the clock allows it: never more than 1 s (the setting) ahead.
    acks = [(m, at) for at, m in zip(live.arrived, live.messages, strict=False) if m["type"] == "ack"]
    for ack, arrived in acks:
        audio_end = (ack["seq"] + 1) * 0.2
        assert audio_end <= arrived - created + 1.0 + 0.15, (ack, arrived - created)
    assert arrived - created >= 2.8
    throttled = live.of("throttled")
    assert throttled and throttled[0]["limit_seconds"] == 1.0, live.messages
    assert [a["seq"] for a in live.of("ack")] == list(range(len(pieces)))
    assert stack.redis.get(keys.session_audio_key(session["id"])) == b"".join(pieces)
    live.drop()


# ---- the WebSocket's messages --------------------------------------------------------------------


def test_bad_messages_get_error_events_and_the_connection_goes_on(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[3])
    live = connected(session["stream_url"])

    for bad in ["[" * 20_000, '{"type": "resume", "seq": true}', '{"type": "resume", "seq": 1e400}',
                '{"type": "resume", "seq": 99999999999999999999999}', '"end"', "{" + '"a":' * 5000]:
        live.ws.send(bad)
    live.wait_for(lambda: len(live.of("error")) == 6, 5)
    live.ws.send(bytes(CHUNK_BYTES))
    live.wait_for(lambda: bool(live.of("ack")), 5)

    assert [e["code"] for e in live.of("error")] == ["bad_message"] * 6
    assert live.of("ack") == [{"type": "ack", "seq": 0}]
    live.drop()


def test_a_command_message_is_stored_where_the_audio_has_come_to_and_a_bad_one_is_refused(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[6], note_type="colonoscopy")
    live = connected(session["stream_url"])

    insert = {"type": "command", "name": "insert_template", "template": "normal-colonoscopy"}
    for message in [bytes(CHUNK_BYTES), bytes(CHUNK_BYTES), {"type": "command", "name": "scratch_that"},
                    bytes(CHUNK_BYTES), insert, {"type": "command"}, {"type": "command", "name": "select"},
                    {"type": "command", "name": "scratch_that", "template": "normal-colonoscopy"},
                    {"type": "command", "name": "insert_template"}, {"type": "command", "name": "insert_template",
                                                                     "template": ""},
                    {"type": "command", "name": "undo", "said": "undo"}, {"type": "command", "name": ["undo"]}]:
        live.ws.send(message if isinstance(message, bytes) else json.dumps(message))
    live.wait_for(lambda: len(live.of("error")) == 7 and len(live.of("ack")) == 3, 5)
    live.ws.send(json.dumps({"type": "end"}))
    live.ws.send(json.dumps({"type": "command", "name": "undo"}))
    live.wait_for(lambda: len(live.of("error")) == 8, 5)

    assert [e["code"] for e in live.of("error")] == ["bad_message"] * 7 + ["session_ending"]
    assert stack.redis.lrange(keys.session_commands_key(session["id"]), 0, -1) == [
        b'12800 {"name":"scratch_that"}', b'19200 {"name":"insert_template","template":"normal-colonoscopy"}']
    assert stack.redis.hget(keys.session_key(session["id"]), "commands") == b"2"
    live.drop()


@pytest.mark.parametrize("after", ["zzz", ":", "1-2-3", "-1", "9" * 40, "0-"])
def test_a_websocket_after_that_is_no_event_id_is_refused_with_an_error_event(stack: Stack, after: str) -> None:
    session = open_session(stack.base, KEYS[4])

    live = closed(LiveClient(f"{session['stream_url']}&after={after}"))

    assert [(m["type"], m["code"]) for m in live.messages] == [("error", "invalid_after")]
    assert live.close_code == 4400


@pytest.mark.parametrize("where", ["query", "header"])
@pytest.mark.parametrize("after", ["zzz", ":", "1-2-3", "9" * 40])
def test_an_sse_after_or_last_event_id_that_is_no_event_id_is_400(stack: Stack, after: str, where: str) -> None:
    session = open_session(stack.base, KEYS[4])
    url = session["events_url"]

    response = (httpx.get(f"{url}&after={after}", timeout=5) if where == "query"
                else httpx.get(url, headers={"Last-Event-ID": after}, timeout=5))

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_after"


def test_a_frame_far_over_the_chunk_limit_is_not_read_in(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[5])
    live = connected(session["stream_url"])

    live.ws.send(bytes(1_000_000))

    assert closed(live).close_code == 1009  # "message too big", before the API reads it
    assert live.of("ack") == []


def test_a_session_vocabulary_has_the_limits_of_a_job_vocabulary(stack: Stack) -> None:
    for vocabulary in (["term"] * 101, ["x" * 65], [{"phrase": "x", "sounds_like": ["y"] * 5}],
                       [{"phrase": "x", "extra": 1}], [[["nested"]]], [{"phrase": {"a": [1]}}],
                       [{"phrase": "x", "sounds_like": ["y" * 60_000]}], ["term"] * 5000):
        response = httpx.post(f"{stack.base}/v1/sessions", json={"vocabulary": vocabulary}, headers=auth(KEYS[5]))
        assert response.status_code == 422, (vocabulary, response.text)
        assert response.json()["error"]["code"] in {"validation_error", "invalid_vocabulary"}

    ok = open_session(stack.base, KEYS[5], vocabulary=["sessile", {"phrase": "Forrest class",
                                                                  "sounds_like": ["forest class"]}])
    assert ok["status"] == "open"


# ---- tokens --------------------------------------------------------------------------------------


def test_the_events_url_token_reads_but_cannot_write(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[6])
    read_token, write_token = token_of(session["events_url"]), token_of(session["stream_url"])
    assert read_token != write_token

    refused = closed(LiveClient(session["stream_url"].replace(write_token, read_token)))
    assert [(m["type"], m["code"]) for m in refused.messages] == [("error", "invalid_token")]
    assert refused.close_code == 4401

    listener = SseClient(session["events_url"])
    assert listener.status == 200
    listener.close()


def test_a_second_writer_replaces_the_first_explicitly(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[7])
    first = connected(session["stream_url"])
    first.ws.send(bytes(CHUNK_BYTES))
    first.wait_for(lambda: bool(first.of("ack")), 5)

    second = connected(session["stream_url"].replace(stack.base.removeprefix("http://"),
                                                     stack.replica.removeprefix("http://")))
    closed(first)
    second.ws.send(bytes(CHUNK_BYTES))
    second.wait_for(lambda: bool(second.of("ack")), 5)

    assert [(m["type"], m.get("code")) for m in first.messages[-1:]] == [("error", "stream_replaced")]
    assert first.close_code == 4409
    assert second.messages[0] == {"type": "ready", "next_seq": 1}
    assert second.of("ack") == [{"type": "ack", "seq": 1}]
    second.drop()


def test_an_ended_or_gone_session_refuses_its_tokens(stack: Stack) -> None:
    ended, gone = open_session(stack.base, KEYS[8]), open_session(stack.base, KEYS[8])
    stack.redis.hset(keys.session_key(ended["id"]), "status", "ended")
    stack.redis.delete(keys.session_key(gone["id"]))

    ws = closed(LiveClient(ended["stream_url"]))
    assert [(m["type"], m["code"]) for m in ws.messages] == [("error", "session_ended")]
    assert ended["job_id"] in ws.messages[0]["message"] and ws.close_code == 4410
    sse = httpx.get(ended["events_url"], timeout=5)
    assert sse.status_code == 410 and sse.json()["error"]["code"] == "session_ended"

    ws = closed(LiveClient(gone["stream_url"]))
    assert [(m["type"], m["code"]) for m in ws.messages] == [("error", "invalid_token")]
    assert ws.close_code == 4401
    sse = httpx.get(gone["events_url"], timeout=5)
    assert sse.status_code == 401 and sse.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize("token", [
    "\u00b2.w." + "0" * 64,
    "9" * 5000 + ".w." + "0" * 64,
    "9" * 5000,
    "12\u0663.r.abc",
    "\u00e9t\u00e9",
    "..",
    "1.w.",
    "x" * 6000,
])
def test_a_malformed_token_is_invalid_token_never_a_500(stack: Stack, token: str) -> None:
    session = open_session(stack.base, KEYS[9])
    base = f"{stack.base}/v1/sessions/{session['id']}"

    sse = httpx.get(f"{base}/events", params={"token": token}, timeout=5)
    ws = closed(LiveClient(session["stream_url"].split("?")[0] + "?" + httpx.QueryParams({"token": token}).__str__()))

    assert sse.status_code == 401 and sse.json()["error"]["code"] == "invalid_token", sse.text
    assert [(m["type"], m["code"]) for m in ws.messages] == [("error", "invalid_token")]
    assert ws.close_code == 4401


def test_a_query_string_that_only_mentions_token_is_rate_limited(stack: Stack) -> None:
    path = "/v1/sessions/00000000-0000-4000-8000-000000000000/events?xtoken=1&notoken=2"
    statuses = [httpx.get(stack.base + path, headers=auth(KEYS[10]), timeout=5).status_code for _ in range(31)]

    assert statuses[:30] == [404] * 30 and statuses[30] == 429


# ---- counting and ending streams -----------------------------------------------------------------


def test_a_key_holds_a_limited_number_of_streams_across_replicas(stack: Stack) -> None:
    one, two = open_session(stack.base, KEYS[11]), open_session(stack.base, KEYS[11])
    sse = SseClient(one["events_url"])
    ws = connected(two["stream_url"].replace(stack.base.removeprefix("http://"),
                                             stack.replica.removeprefix("http://")))
    assert sse.status == 200 and ws.messages[0]["type"] == "ready"

    over_sse = httpx.get(two["events_url"], timeout=5)
    over_ws = closed(LiveClient(one["stream_url"]))

    assert over_sse.status_code == 429 and over_sse.json()["error"]["code"] == "too_many_streams"
    assert "2" in over_sse.json()["error"]["message"] and over_sse.headers["retry-after"]
    assert [(m["type"], m["code"]) for m in over_ws.messages] == [("error", "too_many_streams")]
    assert over_ws.close_code == 4429
    # Another key is not held back by this one.
    assert SseClient(open_session(stack.base, KEYS[12])["events_url"]).status == 200

    sse.close()
    ws.drop()
    time.sleep(0.5)  # both replicas see their streams end and give the places back
    # A new session: with no worker here, the API's sweep ends the first two at their 2 s idle timeout.
    again = SseClient(open_session(stack.base, KEYS[11])["events_url"])
    assert again.status == 200
    again.close()


def test_streams_of_a_replica_that_died_stop_counting_when_their_leases_lapse(stack: Stack) -> None:
    doomed, doomed_base = start_api(stack.url, stack.tmp, **LIVE_ENV)
    one, two = open_session(stack.base, KEYS[13]), open_session(stack.base, KEYS[13])
    held = [SseClient(s["events_url"].replace(stack.base, doomed_base)) for s in (one, two)]
    assert [h.status for h in held] == [200, 200]
    assert httpx.get(one["events_url"], timeout=5).status_code == 429

    doomed.stop(signal.SIGKILL)
    time.sleep(2.5)  # the lease (2 s here) lapses

    after = SseClient(one["events_url"])
    assert after.status == 200
    after.close()


def test_a_stream_ends_when_its_session_is_gone(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[14])
    sse = SseClient(session["events_url"])
    ws = connected(session["stream_url"])

    stack.redis.delete(keys.session_key(session["id"]), keys.session_events_key(session["id"]))

    assert sse.ended.wait(8), "the SSE stream outlived its session"
    assert [(e["event"], e["code"]) for e in sse.events] == [("error", "session_gone")]
    closed(ws)
    assert [(m["type"], m.get("code")) for m in ws.messages[1:]] == [("error", "session_gone")]
    assert ws.close_code == 4410


def test_an_sse_stream_ends_when_its_token_expires(stack: Stack) -> None:
    session = open_session(stack.base, KEYS[15])
    token = session_tokens.issue(SECRET.encode(), session["id"], 2, scope=session_tokens.READ)
    started = time.monotonic()

    sse = SseClient(f"{stack.base}/v1/sessions/{session['id']}/events?token={token}")

    assert sse.status == 200
    assert sse.ended.wait(8), "the SSE stream outlived its token"
    assert 1 <= time.monotonic() - started < 6
    assert [(e["event"], e["code"]) for e in sse.events] == [("error", "token_expired")]


def blocked_xreads(client: redis.Redis) -> int:
    return int(client.info("clients")["blocked_clients"])


def test_a_relay_whose_client_dropped_ends_and_the_api_shuts_down(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("relay")
    redis_proc, url = start_redis(tmp)
    client = redis.Redis.from_url(url)
    api, base = start_api(url, tmp, **{**LIVE_ENV, "ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS": "1"})
    try:
        live = connected(open_session(base, KEYS[0])["stream_url"])
        live.wait_for(lambda: bool(live.of("error")), 5)  # idle_timeout: the session ends (no worker takes it)
        assert blocked_xreads(client) == 1
        live.drop()

        eventually(lambda: blocked_xreads(client) == 0, 5, "the relay to stop reading for a client that is gone")

        again = connected(open_session(base, KEYS[0])["stream_url"])  # a connection open at shutdown
        started = time.monotonic()
        api.proc.send_signal(signal.SIGTERM)
        api.proc.wait(10)
        assert time.monotonic() - started < 5
        closed(again)
        assert again.close_code == 1012
    finally:
        api.stop(signal.SIGKILL)
        redis_proc.stop()


def test_the_async_pool_is_bounded_and_a_stream_it_cannot_serve_ends_with_an_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("pool")
    redis_proc, url = start_redis(tmp)
    client = redis.Redis.from_url(url)
    api: Process | None = None
    try:
        # A 30 s idle timeout, as in the websocket case: under load a 2 s one ended a session mid-test.
        api, base = start_api(url, tmp, **{**LIVE_ENV, "ENDOSCRIBE_LIVE_MAX_STREAMS_PER_KEY": "0",
                                           "ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS": "30",
                                           "ENDOSCRIBE_LIVE_REDIS_MAX_CONNECTIONS": "2",
                                           "ENDOSCRIBE_LIVE_REDIS_WAIT_SECONDS": "0.3"})
        sessions = [open_session(base, KEYS[0]) for _ in range(8)]
        streams = [SseClient(s["events_url"]) for s in sessions]
        time.sleep(3)  # time for every stream to wait its 0.3 s for a connection

        assert max(blocked_xreads(client) for _ in range(10)) <= 2
        failed = [s for s in streams if s.ended.is_set()]
        assert failed, "eight streams shared two connections without waiting"
        for stream in failed:
            assert stream.status == 200 and stream.failure is None
            assert [(e["event"], e["code"]) for e in stream.events] == [("error", "unavailable")], stream.body
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        for stream in streams:
            stream.close()
    finally:
        if api is not None:
            api.stop()
        redis_proc.stop()


def test_a_websocket_gets_a_clear_error_when_the_pool_is_exhausted(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("pool-ws")
    redis_proc, url = start_redis(tmp)
    api: Process | None = None
    try:
        api, base = start_api(url, tmp, **{**LIVE_ENV, "ENDOSCRIBE_LIVE_MAX_STREAMS_PER_KEY": "0",
                                           "ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS": "30",
                                           "ENDOSCRIBE_LIVE_REDIS_MAX_CONNECTIONS": "1",
                                           "ENDOSCRIBE_LIVE_REDIS_WAIT_SECONDS": "0.3"})
        lives = [LiveClient(open_session(base, KEYS[1])["stream_url"]) for _ in range(4)]
        time.sleep(3)  # time for every socket to wait its 0.3 s for a connection

        dropped = [live for live in lives if live.close_code is not None]
        assert dropped
        for live in dropped:
            assert live.close_code == 1013
            assert [m.get("code") for m in live.messages if m["type"] == "error"] == ["unavailable"]
        for live in lives:
            if live.close_code is None:
                live.drop()
    finally:
        if api is not None:
            api.stop()
        redis_proc.stop()


# ---- the memory guard ------------------------------------------------------------------------------


def test_audio_that_redis_has_no_room_for_is_refused_unacked_and_taken_when_resent(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("full")
    redis_proc, url = start_redis(tmp)
    client = redis.Redis.from_url(url)
    # The ceiling sits a few MB above an empty Redis: filler pushes it over while the session streams.
    ceiling_mb = client.info("memory")["used_memory"] / 1e6 + 4
    api, base = start_api(url, tmp, **{**LIVE_ENV, "ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS": "30",
                                       "ENDOSCRIBE_QUOTA_MAX_REDIS_MEMORY_MB": f"{ceiling_mb:.2f}"})
    try:
        session = open_session(base, KEYS[0])
        live = connected(session["stream_url"])
        live.ws.send(bytes(CHUNK_BYTES))
        live.wait_for(lambda: len(live.of("ack")) == 1, 5)
        client.set("filler", bytes(8_000_000))
        time.sleep(1.2)  # the socket looks at Redis's memory once a second
        live.ws.send(bytes(CHUNK_BYTES))
        live.wait_for(lambda: bool(live.of("error")), 5)

        assert [(e["code"], "resend from 1" in e["message"]) for e in live.of("error")] == [("storage_full", True)]
        assert [a["seq"] for a in live.of("ack")] == [0]
        client.delete("filler")
        time.sleep(1.2)  # the socket looks at Redis's memory once a second
        live.ws.send(json.dumps({"type": "resume", "seq": 1}))
        live.ws.send(bytes(CHUNK_BYTES))
        live.wait_for(lambda: len(live.of("ack")) == 2, 5)
        assert [a["seq"] for a in live.of("ack")] == [0, 1]
        assert client.strlen(keys.session_audio_key(session["id"])) == 2 * CHUNK_BYTES
        live.drop()
    finally:
        api.stop()
        redis_proc.stop()

