"""Helpers to drive jobs through the HTTP API in tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "fixtures"
FINAL = {"completed", "failed", "cancelled"}


def submit(client: httpx.Client, audio: bytes | Path, filename: str = "audio.wav", **fields: str) -> dict[str, Any]:
    data = audio.read_bytes() if isinstance(audio, Path) else audio
    response = client.post("/v1/jobs", files={"file": (filename, data)}, data=fields)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for_status(
    client: httpx.Client, job_id: str, statuses: set[str] = FINAL, timeout: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}")
        if response.status_code == 429:  # a well-behaved poller waits as it is told
            time.sleep(float(response.headers.get("retry-after", "1")))
            continue
        job: dict[str, Any] = response.json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not reach {statuses}: {job}")


def reference(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text().strip()


def long_recording(repeats: int) -> bytes:
    """A WAV of the colonoscopy fixture repeated, for jobs that must still be running when we act."""
    import io
    import wave

    with wave.open(str(FIXTURES / "colonoscopy.wav")) as src:
        params = src.getparams()
        frames = src.readframes(src.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as dst:
        dst.setparams(params)
        for _ in range(repeats):
            dst.writeframes(frames)
    return out.getvalue()
