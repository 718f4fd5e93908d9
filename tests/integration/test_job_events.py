"""`GET /v1/jobs/{id}/events`: Server-Sent Events of a job's state until it ends, over real HTTP, on a
real redis-server. No worker: each test moves its job the way a worker does, through the job store."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from httpx_sse import connect_sse

from core.job_store import Claim, JobStore
from core.jobs import JobStage, JobStatus, Segment, Transcript
from core.settings import Settings
from core.tuning import ApiTuning
from tests.integration.test_quotas import KEYS, LiveApi, auth, submitted
from tests.polling import eventually

TRANSCRIPT = Transcript(text="Cecum reached.", language="en", duration=2.0,
                        segments=[Segment(start=0.0, end=2.0, text="Cecum reached.")])


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS, tuning=ApiTuning(events_poll_seconds=0.05),
                            max_event_streams_per_key=2))
    yield live
    live.close()


class Stream:
    """A job's event stream read in a thread, collecting `(event, data)` until the server ends it."""

    def __init__(self, api: LiveApi, job_id: str, key: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.client = httpx.Client(base_url=str(api.base_url), headers=auth(key), timeout=30)
        self.thread = threading.Thread(target=self._read, args=(job_id,), daemon=True)
        self.thread.start()
        eventually(lambda: bool(self.events), 5, "first event", interval=0.01)

    def _read(self, job_id: str) -> None:
        with connect_sse(self.client, "GET", f"/v1/jobs/{job_id}/events") as source:
            for sse in source.iter_sse():
                self.events.append((sse.event, json.loads(sse.data)))

    def ended(self, timeout: float = 5) -> list[tuple[str, dict[str, Any]]]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the stream did not end: {self.events}"
        self.client.close()
        return self.events


def state(status: str, stage: str, progress: float, error: dict[str, str] | None = None) -> dict[str, Any]:
    return {"status": status, "stage": stage, "progress": progress, "error": error}


def test_events_follow_a_job_from_queued_to_completed_and_then_end(api: LiveApi, clean_redis: redis.Redis) -> None:
    store = JobStore(clean_redis, 3600)
    job_id = submitted(api, KEYS[0])
    stream = Stream(api, job_id, KEYS[0])

    assert store.claim(job_id, "run", "worker-1", 60, 3) is Claim.CLAIMED
    eventually(lambda: len(stream.events) == 2, 5, "processing event", interval=0.01)
    for progress in (30.0, 70.0):
        assert store.update(job_id, "run", stage=JobStage.TRANSCRIBING, progress=progress)
        eventually(lambda p=progress: stream.events[-1][1]["progress"] == p, 5, "progress event", interval=0.01)
    assert store.end(job_id, "run", JobStatus.COMPLETED, TRANSCRIPT, progress=100.0)

    events = stream.ended()
    assert events == [("job", {"id": job_id, **s}) for s in (
        state("queued", "queued", 0.0),
        state("processing", "decoding", 0.0),
        state("processing", "transcribing", 30.0),
        state("processing", "transcribing", 70.0),
        state("completed", "done", 100.0),
    )]


def test_a_cancelled_job_ends_its_stream_and_an_ended_job_streams_its_end_at_once(api: LiveApi) -> None:
    job_id = submitted(api, KEYS[0])
    stream = Stream(api, job_id, KEYS[0])

    api.delete(f"/v1/jobs/{job_id}", headers=auth(KEYS[0]))

    assert [e[1]["status"] for e in stream.ended()] == ["queued", "cancelled"]
    assert Stream(api, job_id, KEYS[0]).ended() == [("job", {"id": job_id, **state("cancelled", "done", 0.0)})]


def test_a_job_erased_while_followed_ends_its_stream_with_an_error_event(
    api: LiveApi, clean_redis: redis.Redis
) -> None:
    job_id = submitted(api, KEYS[0])
    stream = Stream(api, job_id, KEYS[0])

    JobStore(clean_redis, 3600).erase(job_id)

    assert stream.ended()[-1] == ("error", {"error": {
        "code": "not_found", "message": f"job {job_id} was erased or has expired"}})


def test_another_keys_job_has_no_events(api: LiveApi) -> None:
    job_id = submitted(api, KEYS[0])

    for path in (f"/v1/jobs/{job_id}/events", "/v1/jobs/00000000-0000-0000-0000-000000000000/events"):
        response = api.get(path, headers=auth(KEYS[1]))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"/v1/jobs/{job_id}/events").status_code == 401


def test_open_streams_per_key_are_bounded(api: LiveApi) -> None:
    job_id = submitted(api, KEYS[0])
    first, second = Stream(api, job_id, KEYS[0]), Stream(api, job_id, KEYS[0])

    refused = api.get(f"/v1/jobs/{job_id}/events", headers=auth(KEYS[0]))
    assert refused.status_code == 429 and refused.headers["retry-after"] == "5"
    assert refused.json()["error"]["code"] == "too_many_streams"
    other = submitted(api, KEYS[1])
    third = Stream(api, other, KEYS[1])  # another key's streams are its own

    api.delete(f"/v1/jobs/{job_id}", headers=auth(KEYS[0]))
    api.delete(f"/v1/jobs/{other}", headers=auth(KEYS[1]))
    first.ended(), second.ended(), third.ended()
    assert Stream(api, job_id, KEYS[0]).ended()[-1][1]["status"] == "cancelled"
