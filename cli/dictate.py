"""`endoscribe dictate`: a recording streamed to a live session at the pace it was spoken, as a
microphone would send it, yielding the session's events (partial, final, lagging, error, ended)."""

from __future__ import annotations

import json
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from cli.client import Api, ApiError

CHUNK_FRAMES = 3200
"""200 ms at 16 kHz: what the protocol asks for (100-500 ms)."""
MIN_CHUNK_BYTES = 640
"""20 ms: the server refuses a shorter chunk, so a recording's short tail goes with the chunk before it."""
SHOWN = {"partial", "final", "lagging", "error", "ended"}


def read_pcm(path: Path) -> bytes:
    """The samples of a 16 kHz mono 16-bit WAV (what a live session takes, unconverted)."""
    try:
        with wave.open(str(path)) as wav:
            if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (16000, 1, 2):
                raise ApiError(f"{path.name} is not 16 kHz mono 16-bit; convert it first: "
                               f"ffmpeg -i {path.name} -ar 16000 -ac 1 -c:a pcm_s16le out.wav")
            frames: bytes = wav.readframes(wav.getnframes())
            return frames
    except (wave.Error, EOFError) as exc:
        raise ApiError(f"{path.name} is not a WAV file ({exc}); convert it first: "
                       f"ffmpeg -i {path.name} -ar 16000 -ac 1 -c:a pcm_s16le out.wav") from None


def dictate(api: Api, path: Path, options: dict[str, str], speed: float = 1.0) -> Iterator[dict[str, Any]]:
    """Open a session, stream `path` at `speed` times real time, then `end`; the events as they come."""
    pcm = read_pcm(path)
    session: dict[str, Any] = api.request("POST", "/v1/sessions", json=options).json()
    with connect(session["stream_url"], open_timeout=30) as ws:

        def send() -> None:
            starts = list(range(0, len(pcm), CHUNK_FRAMES * 2))
            if len(starts) > 1 and len(pcm) - starts[-1] < MIN_CHUNK_BYTES:
                starts.pop()  # the short tail goes with the chunk before it
            started = time.monotonic()
            for n, at in enumerate(starts):
                time.sleep(max(0.0, started + n * 0.2 / speed - time.monotonic()))
                ws.send(pcm[at:starts[n + 1] if n + 1 < len(starts) else len(pcm)])
            ws.send(json.dumps({"type": "end"}))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        for message in ws:  # the server closes after `ended`
            event: dict[str, Any] = json.loads(message)
            if event["type"] in SHOWN:
                yield event
