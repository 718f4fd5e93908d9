"""A worker's round hands its live sessions back at its time limit, on the real stack: one worker (the
bundled model) whose rounds last 10 s, the API, and a client that dictates for 28 s. Before, the
round served the session for as long as the client talked, its task never ended, and a job submitted
meanwhile stayed queued until the session was over."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.jobs import FIXTURES, submit, wait_for_status
from tests.live import LiveClient, chunks, fixture_pcm
from tests.services import free_port, start_api, start_worker


@pytest.fixture(scope="module")
def short_rounds(own_redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("short-rounds")
    worker = start_worker(own_redis_url, tmp, "short-rounds", ENDOSCRIBE_JOB_TIME_LIMIT_SECONDS="10",
                          ENDOSCRIBE_METRICS_PORT=str(free_port()))
    api, base = start_api(own_redis_url, tmp)
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    for proc in (api, worker):
        proc.stop()


def test_a_session_outlasting_a_round_is_handed_over_and_a_job_submitted_meanwhile_runs(
    short_rounds: httpx.Client,
) -> None:
    response = short_rounds.post("/v1/sessions", json={})
    assert response.status_code == 201, response.text
    session = response.json()
    live = LiveClient(session["stream_url"])
    pieces = chunks(fixture_pcm(FIXTURES / "colonoscopy.wav") + fixture_pcm(FIXTURES / "egd.wav"))
    talking = threading.Thread(target=live.send_audio, args=(pieces, 1.0), daemon=True)
    started = time.monotonic()
    talking.start()
    time.sleep(12)  # past the first round's limit

    job = submit(short_rounds, FIXTURES / "summary.wav")
    done = wait_for_status(short_rounds, job["id"], timeout=60)
    done_at = time.monotonic() - started
    assert done["status"] == "completed" and done_at < 26, done_at  # while the client was still talking
    talking.join()
    ended = live.end()

    finals = live.of("final")
    assert [f["segment"] for f in finals] == list(range(len(finals)))
    assert finals[-1]["end"] > 20  # the session was served after the hand-over, to its end
    assert wait_for_status(short_rounds, ended["job_id"])["status"] == "completed"
