"""A 30 MB recording through the whole stack — API, a Redis refusing requests over 10 MB (as Upstash
does), and a real worker with the bundled model — transcribed, with its audio gone afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.jobs import FIXTURES, wait_for_status
from tests.services import start_api, start_redis, start_worker


def big_recording(tmp: Path) -> Path:
    """The colonoscopy dictation three times, as 96 kHz stereo float WAV: 45 s of speech in 35 MB."""
    out = tmp / "colonoscopy-96k.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "2", "-i", str(FIXTURES / "colonoscopy.wav"),
                    "-ar", "96000", "-ac", "2", "-c:a", "pcm_f32le", str(out)], check=True, timeout=60)
    return out


def test_a_35_mb_recording_is_transcribed_through_a_redis_with_a_10_mb_request_limit(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("large-upload-worker")
    recording = big_recording(tmp)
    assert recording.stat().st_size > 30_000_000
    redis_proc, url = start_redis(tmp, "--proto-max-bulk-len", "10mb")
    api, base = start_api(url, tmp)
    worker = start_worker(url, tmp, "large", ENDOSCRIBE_WARMUP="false")
    try:
        with httpx.Client(base_url=base, timeout=120) as client, recording.open("rb") as body:
            created = client.post("/v1/jobs", files={"file": ("dictation.wav", body)})
            assert created.status_code == 202, created.text
            job = wait_for_status(client, created.json()["id"], timeout=240)
            assert (job["status"], round(job["audio_seconds"])) == ("completed", 45), job
            text = client.get(f"/v1/jobs/{job['id']}/result", params={"format": "txt"}).text.lower()
            assert text.count("sigmoid colon") == 3, text
        assert redis.Redis.from_url(url).exists(keys.audio_key(job["id"])) == 0
    finally:
        for proc in (worker, api, redis_proc):
            proc.stop()
