"""Large uploads sent without ever holding them: a multipart body generated as it is sent."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

BOUNDARY = "endoscribe-test-boundary"
CHUNK = 1024 * 1024


def wav_header(data_bytes: int) -> bytes:
    """A 16 kHz mono 16-bit WAV header for `data_bytes` of samples."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", data_bytes))


def _tone_second() -> bytes:
    return b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / 16000))) for n in range(16000))


def tone_wav_chunks(total_bytes: int) -> Iterator[bytes]:
    """A WAV of a 440 Hz tone, `total_bytes` long in all, a MiB at a time."""
    second = _tone_second()
    block = second * (CHUNK // len(second) + 1)
    yield wav_header(total_bytes - 44)
    left = total_bytes - 44
    while left > 0:
        piece = block[: min(CHUNK // 2 * 2, left)]
        left -= len(piece)
        yield piece


def streamed_upload(total_bytes: int, filename: str = "long.wav") -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers (with the exact Content-Length: the API refuses chunked uploads) and a body for POST /v1/jobs."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from tone_wav_chunks(total_bytes)
        yield tail

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
               "Content-Length": str(len(head) + total_bytes + len(tail))}
    return headers, body()


def post_streamed(base: str, total_bytes: int, timeout: float = 300) -> httpx.Response:
    """POST /v1/jobs a generated WAV of `total_bytes`, holding one MiB of it at a time."""
    headers, body = streamed_upload(total_bytes)
    return httpx.post(f"{base}/v1/jobs", content=body, headers=headers, timeout=timeout)


def post_concurrently(base: str, uploads: int, total_bytes: int) -> list[httpx.Response]:
    """`uploads` streamed uploads of `total_bytes` in flight at once."""
    with ThreadPoolExecutor(uploads) as pool:
        return list(pool.map(lambda _: post_streamed(base, total_bytes), range(uploads)))


def rss_mb(pid: int) -> tuple[float, float]:
    """A process's resident memory now and its peak so far (VmRSS, VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
