"""A live session no worker serves: the client is told it is lagging instead of piling up audio
silently (a real API process and Redis; no worker runs, so the session's audio only waits)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.jobs import FIXTURES
from tests.live import LiveClient, chunks, fixture_pcm
from tests.services import start_api, start_redis


@pytest.fixture(scope="module")
def api_without_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("lag")
    redis_proc, url = start_redis(tmp)
    api_proc, base = start_api(url, tmp, ENDOSCRIBE_LIVE_LAG_SECONDS="1")
    yield base
    api_proc.stop()
    redis_proc.stop()


def test_a_session_no_worker_serves_gets_lagging_events_with_the_audio_waiting(api_without_workers: str) -> None:
    session = httpx.post(f"{api_without_workers}/v1/sessions", json={}, timeout=10).json()
    live = LiveClient(session["stream_url"])
    pieces = chunks(fixture_pcm(FIXTURES / "summary.wav"))[:25]  # 5 s of speech, sent in real time

    live.send_audio(pieces, speed=1)
    live.wait_for(lambda: len(live.of("lagging")) >= 2, 10)

    lagging = live.of("lagging")
    assert all(e["reason"] == "no_worker" for e in lagging), lagging
    # The delay is the audio waiting for a worker: it grows as the client keeps sending.
    assert 1.0 <= lagging[0]["delay"] < lagging[-1]["delay"] <= 5.0, lagging
    live.drop()
