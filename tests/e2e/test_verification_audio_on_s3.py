"""Verification mode on the real stack: moto's S3 server, redis-server, the API under uvicorn and a worker
with the bundled model, both with keys and the audio in the bucket. The worker's end of the job keeps
the object; the owner hears it (whole and by `Range`), the other key does not, and after the window the
API says `audio_expired`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs import FIXTURES, wait_for_status
from tests.polling import eventually
from tests.services import s3_api_env, s3_client, start_api, start_redis, start_s3, start_worker

KEYS = ["review-key", "other-key"]
A, B = ({"Authorization": f"Bearer {key}"} for key in KEYS)
WINDOW = 4
AUDIO = (FIXTURES / "summary.ogg").read_bytes()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    tmp: Path = tmp_path_factory.mktemp("verification-s3")
    s3_proc, endpoint = start_s3(tmp)
    redis_proc, url = start_redis(tmp)
    env = {**s3_api_env(endpoint, "s3://audio/kept"), "ENDOSCRIBE_API_KEYS": json.dumps(KEYS),
           "ENDOSCRIBE_AUDIO_STORE_KEEP_AUDIO_MAX_SECONDS": "60"}
    worker = start_worker(url, tmp, "verify", **env)
    api, base = start_api(url, tmp, **env)
    with httpx.Client(base_url=base, timeout=30, headers=A) as client:  # the owner, unless a request says
        yield client, endpoint
    for proc in (api, worker, redis_proc, s3_proc):
        proc.stop()


def test_a_kept_jobs_audio_is_its_owners_to_hear_until_its_window_ends(stack: tuple[httpx.Client, str]) -> None:
    client, endpoint = stack
    created = client.post("/v1/jobs", files={"file": ("summary.ogg", AUDIO)},
                          data={"keep_audio_seconds": str(WINDOW)})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert wait_for_status(client, job_id)["status"] == "completed"

    # The worker's end kept the object in the bucket.
    listed = s3_client(endpoint).list_objects_v2(Bucket="audio", Prefix="kept/").get("Contents", [])
    assert [item["Key"] for item in listed] == [f"kept/{job_id}"]
    whole = client.get(f"/v1/jobs/{job_id}/audio")
    assert (whole.status_code, whole.headers["content-type"], whole.content) == (200, "audio/ogg", AUDIO)
    part = client.get(f"/v1/jobs/{job_id}/audio", headers={"Range": "bytes=0-9"})
    assert (part.status_code, part.headers["content-range"], part.content) == (
        206, f"bytes 0-9/{len(AUDIO)}", AUDIO[:10])
    assert client.get(f"/v1/jobs/{job_id}/audio", headers=B).json()["error"]["code"] == "not_found"

    expired = eventually(lambda: (r := client.get(f"/v1/jobs/{job_id}/audio")).status_code == 404 and r,
                         WINDOW + 10, "the window's end")
    assert expired.json()["error"]["code"] == "audio_expired"
