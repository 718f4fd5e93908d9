"""Verification mode through the served app (uvicorn on loopback) on a real redis-server, with the audio
in Redis and in moto's S3: a job that asks to keep its audio serves it to its owner after it ends (whole,
and a `Range` as 206), to nobody else, and not after its window; a default job has none after its end;
erasing a kept job deletes its audio at once; the S3 sweep leaves kept audio until its window is over; a
live session's job keeps its audio as the session asked."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core import keys
from core.audio_store import make_audio_store
from core.job_store import JobStore
from core.jobs import JobStatus, Segment, Transcript
from core.s3_audio_store import S3AudioStore
from core.session_store import SessionStore
from core.settings import S3StoreSettings, Settings, StorageSettings
from tests.fakes import tone_pcm
from tests.integration.test_live_desk import new_session
from tests.integration.test_quotas import AUDIO, KEYS, LiveApi, auth, submit, submitted
from tests.polling import eventually
from tests.services import S3_ENV

A, B = auth(KEYS[0]), auth(KEYS[1])
WINDOW = 2
"""Seconds a test job keeps its audio: short, so its end is seen."""
TRANSCRIPT = Transcript(text="Cecum reached.", language="en", duration=1.0,
                        segments=[Segment(start=0, end=1, text="Cecum reached.")])


def tenant(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@pytest.fixture(params=["redis", pytest.param("s3", marks=pytest.mark.system)])  # moto is a process
def storage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> StorageSettings:
    limits: dict[str, Any] = {"keep_audio_max_seconds": 60, "keep_audio_seconds_by_key": {tenant(KEYS[1]): WINDOW}}
    if request.param == "redis":
        return StorageSettings(**limits)
    endpoint = request.getfixturevalue("s3_endpoint")
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    return StorageSettings(url=f"s3://audio/verify-{time.monotonic_ns()}", s3=S3StoreSettings(endpoint_url=endpoint),
                           **limits)


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str, storage: StorageSettings) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS, storage=storage))
    yield live
    live.close()


def worker_store(api: LiveApi, clean_redis: redis.Redis) -> JobStore:
    """The job store as a worker process builds it (its own audio store, from the same settings)."""
    settings: Settings = api.app.state.settings
    return JobStore(clean_redis, settings.retention_seconds, make_audio_store(settings.storage, clean_redis))


def ended(api: LiveApi, clean_redis: redis.Redis, key: str = KEYS[0], **fields: str) -> str:
    job_id = submitted(api, key, **fields)
    store = worker_store(api, clean_redis)
    store.claim(job_id, "run", "worker-1", 60, 3)
    assert store.end(job_id, "run", JobStatus.COMPLETED, TRANSCRIPT)
    return job_id


def refused(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_the_owner_hears_kept_audio_whole_and_by_range_and_nobody_else_does(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    job_id = ended(api, clean_redis, keep_audio_seconds="30")
    whole = api.get(f"/v1/jobs/{job_id}/audio", headers=A)
    assert (whole.status_code, whole.headers["content-type"], whole.headers["accept-ranges"]) == (
        200, "audio/ogg", "bytes")
    assert whole.content == AUDIO

    part = api.get(f"/v1/jobs/{job_id}/audio", headers={**A, "Range": "bytes=100-199"})
    assert (part.status_code, part.headers["content-range"], part.content) == (
        206, f"bytes 100-199/{len(AUDIO)}", AUDIO[100:200])
    beyond = api.get(f"/v1/jobs/{job_id}/audio", headers={**A, "Range": f"bytes={len(AUDIO) + 10}-"})
    assert beyond.status_code == 416

    assert refused(api.get(f"/v1/jobs/{job_id}/audio", headers=B)) == (404, "not_found")
    assert api.get(f"/v1/jobs/{job_id}", headers=A).json()["options"]["keep_audio_seconds"] == 30


def test_kept_audio_is_gone_after_its_window(api: LiveApi, clean_redis: redis.Redis) -> None:
    job_id = ended(api, clean_redis, keep_audio_seconds=str(WINDOW))
    assert api.get(f"/v1/jobs/{job_id}/audio", headers=A).status_code == 200
    eventually(lambda: api.get(f"/v1/jobs/{job_id}/audio", headers=A).status_code == 404, WINDOW + 5,
               "the window's end")
    assert refused(api.get(f"/v1/jobs/{job_id}/audio", headers=A)) == (404, "audio_expired")
    store = worker_store(api, clean_redis)
    if isinstance(store.audio, S3AudioStore):  # object storage: the sweep deletes it once the window is over
        store.audio.pending_seconds = 0
        assert store.audio.sweep(store.is_open) == 1
    assert store.audio.get(job_id) is None


def test_a_default_job_has_no_audio_after_its_end(api: LiveApi, clean_redis: redis.Redis) -> None:
    job_id = submitted(api, KEYS[0])
    assert api.get(f"/v1/jobs/{job_id}/audio", headers=A).content == AUDIO  # still its job's, until it ends
    store = worker_store(api, clean_redis)
    store.claim(job_id, "run", "worker-1", 60, 3)
    assert store.end(job_id, "run", JobStatus.COMPLETED, TRANSCRIPT)
    assert refused(api.get(f"/v1/jobs/{job_id}/audio", headers=A)) == (404, "audio_not_kept")
    assert store.audio.get(job_id) is None


def test_a_keys_default_keeps_its_jobs_audio_unless_the_job_says_otherwise(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    kept = ended(api, clean_redis, KEYS[1])
    assert api.get(f"/v1/jobs/{kept}/audio", headers=B).content == AUDIO
    declined = ended(api, clean_redis, KEYS[1], keep_audio_seconds="0")
    assert refused(api.get(f"/v1/jobs/{declined}/audio", headers=B)) == (404, "audio_not_kept")


def test_erasing_a_kept_job_deletes_its_audio_at_once(api: LiveApi, clean_redis: redis.Redis) -> None:
    job_id = ended(api, clean_redis, keep_audio_seconds="30")
    assert api.delete(f"/v1/jobs/{job_id}", headers=A).status_code == 204
    assert worker_store(api, clean_redis).audio.get(job_id) is None
    assert refused(api.get(f"/v1/jobs/{job_id}/audio", headers=A)) == (404, "not_found")


def test_the_s3_sweep_leaves_kept_audio_until_its_window_is_over(
    api: LiveApi, clean_redis: redis.Redis, storage: StorageSettings,
) -> None:
    if not storage.url:
        pytest.skip("Redis audio expires by its own TTL; only object storage is swept")
    job_id = ended(api, clean_redis, keep_audio_seconds=str(WINDOW))
    store = worker_store(api, clean_redis)
    assert isinstance(store.audio, S3AudioStore)
    store.audio.pending_seconds = 0
    assert store.audio.sweep(store.is_open) == 0 and store.audio.get(job_id) == AUDIO
    eventually(lambda: store.audio.sweep(store.is_open) == 1, WINDOW + 5, "the sweep after the window")


def test_keeping_longer_than_the_deployment_allows_is_refused(api: LiveApi) -> None:
    response = submit(api, KEYS[0], keep_audio_seconds="61")
    assert refused(response) == (422, "keep_audio_refused")
    assert "the limit is 60 s" in response.json()["error"]["message"]


def test_a_live_sessions_job_keeps_its_audio_as_it_asked(clean_redis: redis.Redis) -> None:
    sessions, jobs = SessionStore(clean_redis, 3600), JobStore(clean_redis, 3600)
    session_id = new_session(sessions, keep_audio_seconds=30)
    sessions.append(session_id, 0, tone_pcm(0.5), max_bytes=10**9)
    sessions.request_end(session_id, "end")
    job_id = sessions.end_as_job(session_id, jobs)
    assert job_id is not None
    jobs.claim(job_id, "run", "worker-1", 60, 3)
    assert jobs.end(job_id, "run", JobStatus.COMPLETED, TRANSCRIPT)
    assert (jobs.audio.get(job_id) or b"")[:4] == b"RIFF"
    assert 0 < clean_redis.ttl(keys.audio_key(job_id)) <= 30
