"""A live session's WebSocket: client audio into the session store, the session's events back out.

The protocol (README, "Live dictation"):

- On connect the server says `{"type": "ready", "next_seq": N}`: the sequence number of the next chunk
  it expects (0 on a new session; on a reconnect, the first chunk it has not stored).
- Each binary message is one chunk of 16 kHz mono s16le PCM (100-500 ms), numbered N, N+1, ... in the
  order sent; `{"type": "resume", "seq": M}` renumbers the next one (a client resending chunks it is not
  sure were stored: those already stored are acknowledged again, not stored twice).
- Each chunk is stored in Redis, then acknowledged: `{"type": "ack", "seq": N}`. A client keeps the
  chunks not yet acknowledged and, after a reconnect, resends those from `next_seq`.
- `{"type": "end"}` ends the session: the worker makes the last final, then `ended` comes with the job.
- Events (`partial`, `final`, `lagging`, `error`, `ended`) carry their stream `id`; connect with
  `?after=<id>` to get only later ones.
- A client that closes cleanly (1000, 1001) ends the session, as `end` does; a lost connection
  leaves it open for a reconnect until the idle timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio
from celery import Celery
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from api import session_service
from core import keys
from core.session_store import BYTES_PER_SECOND, Appended, SessionStore
from core.settings import LiveSettings

log = logging.getLogger("endoscribe.api")

MAX_CHUNK_BYTES = BYTES_PER_SECOND
"""One second: the protocol asks for 100-500 ms, and a bigger message would hold the socket's turn."""
WAKE_EVERY_SECONDS = 2.0
"""How often a connection checks that a worker serves its session (and wakes one if not)."""
CLEAN_CLOSE = {1000, 1001}
TERMINAL = {"ended"}


class SessionSocket:
    """One client connection to one session."""

    def __init__(self, websocket: WebSocket, session_id: str, sessions: SessionStore, events: redis.asyncio.Redis,
                 celery: Celery, settings: LiveSettings) -> None:
        self.ws = websocket
        self.id = session_id
        self.sessions = sessions
        self.events = events
        self.celery = celery
        self.settings = settings
        self.next_seq = 0
        self.checked_at = 0.0
        self.unserved_since: float | None = None
        self.lag_told_at = 0.0

    async def run(self, next_seq: int, after: str) -> None:
        self.next_seq = next_seq
        await self.send({"type": "ready", "next_seq": next_seq})
        receiver = asyncio.create_task(self.receive())
        relay = asyncio.create_task(self.relay(after))
        done, pending = await asyncio.wait({receiver, relay}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in done:
            if (exc := task.exception()) is not None and not isinstance(exc, WebSocketDisconnect):
                raise exc

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(message, separators=(",", ":")))

    # ---- client -> store -----------------------------------------------------------------------

    async def receive(self) -> None:
        while True:
            try:
                message = await asyncio.wait_for(self.ws.receive(), self.settings.idle_timeout_seconds)
            except TimeoutError:
                await self.end("idle_timeout", f"no audio for {self.settings.idle_timeout_seconds:g} s")
                await asyncio.Event().wait()  # the relay closes the socket once `ended` comes
                return
            if message["type"] == "websocket.disconnect":
                if message.get("code", 1000) in CLEAN_CLOSE:
                    await run_in_threadpool(self.sessions.request_end, self.id, "closed")
                    await self.wake()
                return
            if message.get("bytes") is not None:
                await self.chunk(message["bytes"])
            elif message.get("text") is not None:
                await self.command(message["text"])

    async def chunk(self, data: bytes) -> None:
        if len(data) > MAX_CHUNK_BYTES or len(data) % 2:
            await self.error("bad_chunk", f"a chunk is whole 16-bit samples, at most {MAX_CHUNK_BYTES} bytes "
                             f"(1 s); this one has {len(data)} bytes")
            return
        seq = self.next_seq
        max_bytes = int(self.settings.max_session_seconds * BYTES_PER_SECOND)
        result, expected = await run_in_threadpool(self.sessions.append, self.id, seq, data, max_bytes)
        if result in (Appended.STORED, Appended.DUPLICATE):
            self.next_seq = seq + 1
            await self.send({"type": "ack", "seq": seq})
        elif result is Appended.GAP:
            await self.error("sequence_gap", f"chunk {seq} came before chunk {expected}; resend from {expected} "
                             f"(send {{\"type\": \"resume\", \"seq\": {expected}}} first)")
        elif result is Appended.TOO_LONG:
            await self.end("session_too_long", f"the session reached its limit of "
                           f"{self.settings.max_session_seconds:g} s of audio")
        elif result is Appended.CLOSED:
            await self.error("session_ending", "the session is ending; its audio after `end` is not taken")
        else:
            await self.error("session_gone", "the session expired or was erased")
        await self.wake_if_unserved()

    async def command(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message.get("type")
        except (ValueError, AttributeError):
            kind, message = None, {}
        if kind == "end":
            await run_in_threadpool(self.sessions.request_end, self.id, "end")
            await self.wake()
        elif kind == "resume" and isinstance(message.get("seq"), int) and message["seq"] >= 0:
            self.next_seq = message["seq"]
        else:
            await self.error("bad_message", 'text messages are {"type": "end"} or {"type": "resume", "seq": N}')

    async def end(self, code: str, why: str) -> None:
        if await run_in_threadpool(self.sessions.request_end, self.id, code):
            await self.error(code, f"{why}; the session ends and its audio becomes a job")
        await self.wake()

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    async def wake_if_unserved(self) -> None:
        """Wake a worker when none serves the session; past `lag_seconds` unserved, tell the client
        (a `lagging` event with the audio waiting) instead of storing its audio in silence."""
        now = time.monotonic()
        if now - self.checked_at < min(WAKE_EVERY_SECONDS, self.settings.lag_seconds / 2):
            return
        self.checked_at = now
        if await run_in_threadpool(self.sessions.is_served, self.id):
            self.unserved_since = None
            return
        await self.wake()
        if self.unserved_since is None:
            self.unserved_since = now
        elif min(now - self.unserved_since, now - self.lag_told_at) >= self.settings.lag_seconds:
            self.lag_told_at = now
            state = await run_in_threadpool(self.sessions.get, self.id)
            if state is not None:
                waiting = (state.audio_bytes - state.committed_bytes) / BYTES_PER_SECOND
                await run_in_threadpool(self.sessions.emit, self.id,
                                        {"type": "lagging", "delay": round(waiting, 1), "reason": "no_worker"})

    async def wake(self) -> None:
        await run_in_threadpool(session_service.wake_worker, self.celery)

    # ---- store -> client -----------------------------------------------------------------------

    async def relay(self, after: str) -> None:
        async for event in session_events(self.events, self.id, after):
            await self.send(event)
            if event["type"] in TERMINAL:
                await self.ws.close(1000)
                return


async def session_events(client: redis.asyncio.Redis, session_id: str, after: str) -> AsyncIterator[dict[str, Any]]:
    """The session's events after stream id `after` ("0": all), each with its `id`, until `ended`."""
    key = keys.session_events_key(session_id)
    last = after or "0"
    while True:
        found = await client.xread({key: last}, count=100, block=1000)
        for _, entries in cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], found or []):
            for entry_id, fields in entries:
                last = entry_id.decode()
                event = {**json.loads(fields[b"e"]), "id": last}
                yield event
                if event["type"] in TERMINAL:
                    return

