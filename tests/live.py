"""A live-session client for tests: a real WebSocket, a reader thread, PCM from the fixture WAVs."""

from __future__ import annotations

import json
import threading
import time
import wave
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.session_stream import MIN_CHUNK_BYTES
from tests.polling import eventually

CHUNK_BYTES = 6400
"""200 ms of 16 kHz mono s16le."""


def fixture_pcm(path: Path) -> bytes:
    with wave.open(str(path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        frames: bytes = wav.readframes(wav.getnframes())
        return frames


def chunks(pcm: bytes) -> list[bytes]:
    """200 ms pieces; a last one under 20 ms (which the server refuses) joins the piece before it."""
    pieces = [pcm[n:n + CHUNK_BYTES] for n in range(0, len(pcm), CHUNK_BYTES)]
    if len(pieces) > 1 and len(pieces[-1]) < MIN_CHUNK_BYTES:
        pieces[-2:] = [pieces[-2] + pieces[-1]]
    return pieces


class LiveClient:
    """One connection: what it sends, and every message the server sent it (read in a thread)."""

    def __init__(self, url: str) -> None:
        # websockets wants its connection entered as a context; this client closes it when the server does.
        self.ws = ExitStack().enter_context(connect(url, open_timeout=10, max_size=2**20))
        self.messages: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        """`time.monotonic()` when each message came (benchmarks)."""
        self.close_code: int | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.ws:
                self.arrived.append(time.monotonic())
                self.messages.append(json.loads(message))
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in list(self.messages) if m["type"] == kind]

    def wait_for(self, check: Callable[[], bool], timeout: float = 60) -> None:
        """`eventually`, saying what the server sent when it times out."""
        eventually(check, timeout, lambda: f"what was awaited (messages: {self.messages})")

    def send_audio(self, pieces: list[bytes], speed: float = 3.0) -> None:
        """Send chunks at `speed` times real time."""
        for piece in pieces:
            self.ws.send(piece)
            time.sleep(len(piece) / 32000 / speed)  # a live client sends as it records: paced

    def end(self, timeout: float = 90) -> dict[str, Any]:
        """Say `end` and wait for `ended`."""
        self.ws.send(json.dumps({"type": "end"}))
        self.wait_for(lambda: bool(self.of("ended")), timeout)
        self.thread.join(10)
        return self.of("ended")[0]

    def drop(self) -> None:
        """Lose the connection without a closing handshake, as a network failure would."""
        self.ws.socket.close()
        self.thread.join(10)
