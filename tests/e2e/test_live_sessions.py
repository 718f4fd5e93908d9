"""Live dictation on the real stack: the API under uvicorn, a worker with the bundled model, real
WebSockets streaming the fixture recordings in 200 ms chunks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from core import keys
from tests.e2e.test_transcription import word_error_rate
from tests.jobs import FIXTURES, reference, wait_for_status
from tests.live import LiveClient, chunks, fixture_pcm
from tests.services import Process, start_api, start_worker


def open_session(client: httpx.Client, **options: Any) -> dict[str, Any]:
    response = client.post("/v1/sessions", json=options)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def final_text(live: LiveClient) -> str:
    return " ".join(f["text"] for f in sorted(live.of("final"), key=lambda f: f["segment"]))


def test_a_session_streams_partials_and_finals_and_ends_as_a_completed_job(client: httpx.Client) -> None:
    session = open_session(client, hotwords="cecum", formatting="none", vocabulary=["sigmoid colon"])
    assert session["stream_url"].startswith("ws://") and "token=" in session["stream_url"]
    live = LiveClient(session["stream_url"])
    pcm = fixture_pcm(FIXTURES / "colonoscopy.wav")
    pieces = chunks(pcm)

    # A listener on the SSE URL (its read-only token, no API key) while the session runs.
    listened: list[str] = []
    listener = threading.Thread(target=lambda: listened.append(httpx.get(session["events_url"], timeout=120).text))
    listener.start()
    live.send_audio(pieces, speed=2)
    ended = live.end()
    listener.join(30)

    assert live.messages[0] == {"type": "ready", "next_seq": 0}
    assert [a["seq"] for a in live.of("ack")] == list(range(len(pieces)))
    assert live.of("partial"), live.messages
    finals = live.of("final")
    assert [f["segment"] for f in finals] == list(range(len(finals)))
    assert all(f["start"] < f["end"] for f in finals)
    assert word_error_rate(reference("colonoscopy"), final_text(live)) <= 0.25, final_text(live)
    assert ended["job_id"] == session["job_id"] and ended["result_url"] == session["result_url"]
    assert live.close_code == 1000
    # The listener got the same events, ending with `ended`; once ended, the session's tokens are refused.
    sse = listened[0]
    assert sse.count("event: final") == len(finals) and f'"id": "{ended["id"]}"' in sse.split("event: ended")[1]
    assert httpx.get(session["events_url"], timeout=30).status_code == 410
    job = wait_for_status(client, session["job_id"])
    assert job["status"] == "completed" and job["audio_seconds"] == pytest.approx(len(pcm) / 32000, abs=0.002)
    assert (job["options"]["hotwords"], job["options"]["formatting"]) == ("cecum", "none")
    assert [v["phrase"] for v in job["options"]["vocabulary"]] == ["sigmoid colon"]
    result = client.get(f"/v1/jobs/{session['job_id']}/result").json()
    assert word_error_rate(reference("colonoscopy"), result["text"]) <= 0.15
    assert client.get(f"/v1/jobs/{session['job_id']}/result?format=srt").status_code == 200


def test_a_client_that_loses_its_connection_resumes_without_duplicating_audio_or_text(
    client: httpx.Client, redis_client: redis.Redis
) -> None:
    session = open_session(client)
    pcm = fixture_pcm(FIXTURES / "egd.wav")
    pieces = chunks(pcm)
    first = LiveClient(session["stream_url"])
    first.send_audio(pieces[:30])
    first.wait_for(lambda: len(first.of("ack")) == 30)
    first.drop()

    fresh = client.get(f"/v1/sessions/{session['id']}").json()
    last_event = next((m["id"] for m in reversed(first.messages) if "id" in m), "0")
    second = LiveClient(f"{fresh['stream_url']}&after={last_event}")
    second.wait_for(lambda: bool(second.messages))
    assert second.messages[0] == {"type": "ready", "next_seq": 30}
    # Unsure whether its last chunk arrived, the client sends it again: acknowledged, not stored twice.
    second.ws.send('{"type": "resume", "seq": 29}')
    second.send_audio(pieces[29:])
    ended = second.end()

    assert ended["job_id"] == session["job_id"]
    assert [a["seq"] for a in second.of("ack")] == list(range(29, len(pieces)))
    segments = [f["segment"] for f in first.of("final") + second.of("final")]
    assert segments == list(range(len(segments)))
    # The job has every chunk, once: a WAV header and the session's samples.
    assert int(redis_client.hget(keys.job_key(session["job_id"]), "upload_bytes") or 0) == 44 + len(pcm)


def test_a_token_opens_only_its_own_session(client: httpx.Client) -> None:
    bad = client.post("/v1/sessions", json={"note_type": "dermatology"})
    assert bad.status_code == 422 and "colonoscopy" in bad.json()["error"]["message"]
    mine, other = open_session(client), open_session(client)
    stolen = mine["stream_url"].replace(mine["id"], other["id"])

    refused = LiveClient(stolen)
    refused.thread.join(10)

    assert refused.messages == [{"type": "error", "code": "invalid_token", "message": refused.messages[0]["message"]}]
    assert refused.close_code == 4401
    assert httpx.get(other["events_url"].replace(other["id"], mine["id"])).status_code == 401
    for session in (mine, other):
        LiveClient(session["stream_url"]).end()


@pytest.fixture(scope="module")
def strict_api(redis_url: str, service_dir: Path, worker: Process) -> Any:
    proc, base = start_api(redis_url, service_dir, ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY="1",
                           ENDOSCRIBE_LIVE_MAX_SESSION_SECONDS="2", ENDOSCRIBE_LIVE_IDLE_TIMEOUT_SECONDS="2")
    with httpx.Client(base_url=base, timeout=30) as c:
        yield c
    proc.stop()


def test_limits_a_second_session_a_too_long_one_and_a_client_that_stops_sending(strict_api: httpx.Client) -> None:
    session = open_session(strict_api)
    refused = strict_api.post("/v1/sessions", json={})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_sessions"
    too_long = LiveClient(session["stream_url"])
    too_long.send_audio(chunks(fixture_pcm(FIXTURES / "summary.wav"))[:12], speed=10)
    too_long.wait_for(lambda: bool(too_long.of("ended")), 90)
    assert [e["code"] for e in too_long.of("error")][:1] == ["session_too_long"]
    assert wait_for_status(strict_api, session["job_id"])["audio_seconds"] == pytest.approx(2.0, abs=0.01)

    quiet = open_session(strict_api)  # the first one ended: its place is free again
    silent = LiveClient(quiet["stream_url"])
    silent.send_audio(chunks(fixture_pcm(FIXTURES / "summary.wav"))[:5], speed=10)
    silent.wait_for(lambda: bool(silent.of("ended")), 90)
    assert [e["code"] for e in silent.of("error")] == ["idle_timeout"]


def test_endoscribe_dictate_streams_a_file_and_prints_partials_finals_and_the_job(
    api_url: str, client: httpx.Client, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--url", api_url, "dictate", str(FIXTURES / "summary.wav"), "--speed", "3"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200", "HOME": str(tmp_path)})

    assert done.returncode == 0, done.stderr
    lines = [line.strip().split("  ", 1) for line in done.stdout.splitlines()]
    finals = [parts[1] for parts in lines if len(parts) == 2 and "–" in parts[0]]
    assert word_error_rate(reference("summary"), " ".join(finals)) <= 0.4, done.stdout
    job_id = done.stdout.split("ended: job ")[1].split()[0]
    assert wait_for_status(client, job_id)["status"] == "completed"


def test_a_worker_killed_mid_session_loses_no_audio_and_repeats_no_final(
    client: httpx.Client, worker: Process, redis_url: str, service_dir: Path, redis_client: redis.Redis
) -> None:
    second = start_worker(redis_url, service_dir, "takeover", ENDOSCRIBE_WARMUP="false")
    pcm = fixture_pcm(FIXTURES / "summary.wav")
    pieces = chunks(pcm)
    try:
        worker.proc.send_signal(signal.SIGSTOP)  # paused a moment, so the session goes to `second`
        try:
            session = open_session(client)
            live = LiveClient(session["stream_url"])
            live.send_audio(pieces[:15], speed=2)  # then nothing: its final comes after a real stop's length
            lease = keys.session_lease_key(session["id"])
            live.wait_for(lambda: (redis_client.get(lease) or b"").startswith(b"takeover@"), 30)
        finally:
            worker.proc.send_signal(signal.SIGCONT)
        live.wait_for(lambda: bool(live.of("final")), 60)
        second.stop(signal.SIGKILL)  # mid-session: its lease lapses, the other worker takes over
        live.send_audio(pieces[15:], speed=2)
        live.wait_for(lambda: (redis_client.get(lease) or b"").startswith(b"e2e@"), 60)
        ended = live.end(timeout=120)
    finally:
        second.stop(signal.SIGKILL)

    finals = live.of("final")
    assert [f["segment"] for f in finals] == list(range(len(finals)))
    assert word_error_rate(reference("summary"), final_text(live)) <= 0.45, final_text(live)
    # The job has every chunk, once: a WAV header and the session's samples.
    assert int(redis_client.hget(keys.job_key(ended["job_id"]), "upload_bytes") or 0) == 44 + len(pcm)
