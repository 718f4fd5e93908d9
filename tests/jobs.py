"""Helpers to drive jobs through the HTTP API in tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.polling import eventually

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
    """The job, once its status is one of `statuses`."""
    seen: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        response = client.get(f"/v1/jobs/{job_id}")
        if response.status_code == 429:
            # A well-behaved poller waits as it is told (the API's per-key request rate).
            time.sleep(float(response.headers.get("retry-after", "1")))  # as Retry-After says
            return None
        seen.clear()
        seen.update(response.json())
        return dict(seen) if seen["status"] in statuses else None

    return eventually(reached, timeout, lambda: f"job {job_id} in {statuses} (last seen: {seen})")


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
