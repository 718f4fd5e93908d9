"""A live session's WebSocket: client audio into the session store, the session's events back out.

The protocol (docs/guides/live-dictation.md, "The protocol"):

- On connect the server says `{"type": "ready", "next_seq": N}`: the sequence number of the next chunk
  it expects (0 on a new session; on a reconnect, the first chunk it has not stored).
- Each binary message is one chunk of 16 kHz mono s16le PCM (100-500 ms; 20 ms to 1 s is taken), numbered
  N, N+1, ... in the order sent; `{"type": "resume", "seq": M}` renumbers the next one (a client resending
  chunks it is not sure were stored: those already stored are acknowledged again, not stored twice).
  A chunk under 20 ms (640 bytes, an empty one too) is refused with `chunk_too_short` and not numbered.
- Each chunk is stored in Redis, then acknowledged: `{"type": "ack", "seq": N}`. A client keeps the
  chunks not yet acknowledged and, after a reconnect, resends those from `next_seq`.
- Audio is taken at most `max_audio_ahead_seconds` ahead of the wall-clock time since the session was
  created (so reconnects do not reset it): a chunk past that waits until the clock catches up, and the
  socket reads nothing meanwhile. The first chunk held back tells `{"type": "throttled", "seq": N,
  "wait_seconds": s, "limit_seconds": l}`; nothing is refused or lost, it is only acknowledged later.
- Only audio holds off the idle timeout: text messages and refused chunks do not.
- One connection writes a session: a newer one (a client reconnecting, say, while its old connection is
  not yet known to be dead) replaces it, and the old one gets `stream_replaced` and close 4409.
- `{"type": "end"}` ends the session: the worker makes the last final, then `ended` comes with the job.
- `{"type": "command", "name": "scratch_that"}` (and `"template"` for `insert_template`) is a dictation
  command from a button or a key: stored in order with the audio and applied by the worker at that point,
  as the spoken command would be, with a `command` event whose `source` is `client`
  (`api.session_messages`; a bad one is a `bad_message` error, and the connection goes on).
- Events (`partial`, `final`, `command`, `lagging`, `error`, `ended`) carry their stream `id`; connect with
  `?after=<id>` to get only later ones.
- A client that closes cleanly (1000, 1001) ends the session, as `end` does; a lost connection
  leaves it open for a reconnect until the idle timeout.
- The write token is checked when the connection opens; the connection then lives as long as its session
  (bounded by the idle timeout and `max_session_seconds`), so a long dictation outlives its token.
- The server closes with 1000 after `ended`, 4410 when the session is gone, 4409 when replaced, 1013 when
  Redis cannot serve the stream now (reconnect later), and 1009 for a message over 32 KiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import redis
import redis.asyncio
from celery import Celery
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.session_messages import Command, End, Refused, Resume, read_message
from api.session_relay import GONE, TERMINAL, UNAVAILABLE, closing, look_every, session_events
from api.session_watch import RoomGuard, Waker
from api.stream_leases import Look, StreamLease
from core.errors import ErrorCode
from core.session_commands import Pushed
from core.session_store import BYTES_PER_SECOND, Appended, SessionState, SessionStore
from core.settings import LiveSettings, QuotaSettings

log = logging.getLogger("endoscribe.api")

MAX_CHUNK_BYTES = BYTES_PER_SECOND
"""One second: the protocol asks for 100-500 ms, and a bigger message would hold the socket's turn."""
MIN_CHUNK_BYTES = BYTES_PER_SECOND // 50
"""20 ms: less is no audio to speak of, and an empty chunk must not pass for a client still talking."""
MAX_WS_MESSAGE_BYTES = 32 * 1024
"""What uvicorn reads of one message (`--ws-max-size`, where the API is launched): just above a chunk."""
CLEAN_CLOSE = {1000, 1001}
CLOSE_CODES = {"session_gone": 4410, "stream_replaced": 4409, "unavailable": 1013}
"""How the WebSocket closes after each event that ends a stream (`ended`: 1000)."""

class ChunkRefused(Exception):
    """A newer connection writes this session now."""


class SessionSocket:
    """One client connection to one session."""

    def __init__(self, websocket: WebSocket, state: SessionState, sessions: SessionStore,
                 events: redis.asyncio.Redis, celery: Celery, settings: LiveSettings, lease: StreamLease,
                 quota: QuotaSettings | None = None) -> None:
        self.ws = websocket
        self.id = state.meta.id
        self.sessions = sessions
        self.events = events
        self.settings = settings
        self.lease = lease
        self.next_seq = state.next_seq
        self.stored_seq = state.next_seq
        """The session's next chunk to store: a chunk numbered below it is a resend (not paced)."""
        self.audio_bytes = state.audio_bytes
        self.created_at = state.meta.created_at
        # The idle clock runs from the session's last audio, not from this connection: reconnecting
        # without sending audio must not keep a session open.
        idle_left = state.last_audio_at + settings.idle_timeout_seconds - time.time()
        self.idle_deadline = time.monotonic() + max(0.0, idle_left)
        self.ending = False
        self.throttled = False
        self.waker = Waker(celery, sessions, self.id, settings)
        self.room = RoomGuard(sessions, quota)

    async def run(self, after: str) -> None:
        await self.send({"type": "ready", "next_seq": self.next_seq})
        receiver = asyncio.create_task(self.receive())
        relay = asyncio.create_task(self.relay(after))
        done, pending = await asyncio.wait({receiver, relay}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            exc = task.exception()
            if isinstance(exc, ChunkRefused):
                await self.close_with(closing(ErrorCode.STREAM_REPLACED, "a newer connection writes this session's "
                                                                           "audio now; this one is closed"))
            elif isinstance(exc, redis.RedisError):
                log.warning("live session stream lost Redis: %s", exc.__class__.__name__)
                await self.close_with(UNAVAILABLE)
            elif exc is not None and not isinstance(exc, WebSocketDisconnect):
                raise exc

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_text(json.dumps(message, separators=(",", ":")))

    async def close_with(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.send(event)
            await self.ws.close(CLOSE_CODES.get(event.get("code", ""), 1000))

    # ---- client -> store -----------------------------------------------------------------------

    async def receive(self) -> None:
        while True:
            wait = None if self.ending else self.idle_deadline - time.monotonic()
            if wait is not None and wait <= 0:
                await self.end(ErrorCode.IDLE_TIMEOUT, f"no audio for {self.settings.idle_timeout_seconds:g} s")
                # Reading goes on: a client that leaves is seen leaving, so the relay ends with it.
                self.ending = True
                continue
            try:
                message = await asyncio.wait_for(self.ws.receive(), wait)
            except TimeoutError:
                continue
            if message["type"] == "websocket.disconnect":
                if message.get("code", 1000) in CLEAN_CLOSE:
                    await run_in_threadpool(self.sessions.request_end, self.id, "closed")
                    await self.waker.wake()
                return
            if message.get("bytes") is not None:
                await self.chunk(message["bytes"])
            elif message.get("text") is not None:
                await self.command(message["text"])

    async def chunk(self, data: bytes) -> None:
        if len(data) < MIN_CHUNK_BYTES:
            await self.error(ErrorCode.CHUNK_TOO_SHORT, f"a chunk is at least {MIN_CHUNK_BYTES} bytes (20 ms); this "
                             f"one has {len(data)} bytes and was not taken (send 100-500 ms chunks)")
            return
        if len(data) > MAX_CHUNK_BYTES or len(data) % 2:
            await self.error(ErrorCode.BAD_CHUNK, f"a chunk is whole 16-bit samples, at most {MAX_CHUNK_BYTES} bytes "
                             f"(1 s); this one has {len(data)} bytes")
            return
        seq = self.next_seq
        if full := await self.room.judge():
            # Not stored, not acked, but numbered as the client numbers it: a later chunk that is
            # stored would be the wrong one, so the store answers it `sequence_gap` until the client
            # resends from here.
            self.next_seq = seq + 1
            await self.error(ErrorCode.STORAGE_FULL, f"{full}; chunk {seq} was not stored: resend from "
                             f"{min(seq, self.stored_seq)} (send {{\"type\": \"resume\", \"seq\": "
                             f"{min(seq, self.stored_seq)}}} first)")
            return
        if seq >= self.stored_seq:
            await self.pace(seq, len(data))
        max_bytes = int(self.settings.max_session_seconds * BYTES_PER_SECOND)
        result, expected = await run_in_threadpool(store_chunk, self.lease, self.sessions, self.id, seq, data,
                                                    max_bytes)
        self.stored_seq = max(self.stored_seq, expected)
        if result in (Appended.STORED, Appended.DUPLICATE):
            self.next_seq = seq + 1
            if result is Appended.STORED:
                self.audio_bytes += len(data)
                self.idle_deadline = time.monotonic() + self.settings.idle_timeout_seconds
            await self.send({"type": "ack", "seq": seq})
        elif result is Appended.GAP:
            await self.error(ErrorCode.SEQUENCE_GAP, f"chunk {seq} came before chunk {expected}; resend from "
                             f"{expected} (send {{\"type\": \"resume\", \"seq\": {expected}}} first)")
        elif result is Appended.TOO_LONG:
            await self.end(ErrorCode.SESSION_TOO_LONG, f"the session reached its limit of "
                           f"{self.settings.max_session_seconds:g} s of audio")
        elif result is Appended.CLOSED:
            await self.error(ErrorCode.SESSION_ENDING, "the session is ending; its audio after `end` is not taken")
        else:
            await self.error(ErrorCode.SESSION_GONE, "the session expired or was erased")
        await self.waker.if_unserved()

    async def pace(self, seq: int, size: int) -> None:
        """Hold a chunk that would put the session's audio too far ahead of the clock until it would not."""
        limit = self.settings.max_audio_ahead_seconds
        ahead = (self.audio_bytes + size) / BYTES_PER_SECOND - (time.time() - self.created_at)
        if ahead <= limit:
            self.throttled = False
            return
        if not self.throttled:
            self.throttled = True
            await self.send({"type": "throttled", "seq": seq, "wait_seconds": round(ahead - limit, 3),
                             "limit_seconds": limit})
        await asyncio.sleep(ahead - limit)

    async def command(self, text: str) -> None:
        message = read_message(text)
        if isinstance(message, End):
            await run_in_threadpool(self.sessions.request_end, self.id, "end")
            await self.waker.wake()
        elif isinstance(message, Resume):
            self.next_seq = message.seq
        elif isinstance(message, Refused):
            await self.error(ErrorCode.BAD_MESSAGE, message.message)
        elif isinstance(message, Command):
            pushed = await run_in_threadpool(store_command, self.lease, self.sessions, self.id, message.command)
            if pushed == Pushed.CLOSED:
                await self.error(ErrorCode.SESSION_ENDING, "the session is ending; commands after `end` are not "
                                 "taken")
            elif pushed == Pushed.TOO_MANY:
                await self.error(ErrorCode.BAD_MESSAGE, "the session has taken as many commands as it may")
            elif pushed == Pushed.MISSING:
                await self.error(ErrorCode.SESSION_GONE, "the session expired or was erased")
            else:
                await self.waker.if_unserved()

    async def end(self, code: str, why: str) -> None:
        if await run_in_threadpool(self.sessions.request_end, self.id, code):
            await self.error(code, f"{why}; the session ends and its audio becomes a job")
        await self.waker.wake()

    async def error(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    # ---- store -> client -----------------------------------------------------------------------

    async def relay(self, after: str) -> None:
        async for event in session_events(self.events, self.id, after, self.look, look_every(self.lease)):
            if event["type"] in TERMINAL or "id" not in event:
                await self.close_with(event)
                return
            await self.send(event)

    async def look(self) -> dict[str, Any] | None:
        found = await run_in_threadpool(self.lease.look)
        if found == Look.GONE:
            return GONE
        if found == Look.REPLACED:
            raise ChunkRefused
        return None


def store_chunk(lease: StreamLease, sessions: SessionStore, session_id: str, seq: int, data: bytes,
                max_bytes: int) -> tuple[Appended, int]:
    """Append the chunk, unless a newer connection is the session's writer now (blocking)."""
    if not lease.is_writer():
        raise ChunkRefused
    return sessions.append(session_id, seq, data, max_bytes)


def store_command(lease: StreamLease, sessions: SessionStore, session_id: str, command: dict[str, Any]) -> int:
    """Store a client's command after the audio stored so far, as `store_chunk` stores a chunk (blocking)."""
    if not lease.is_writer():
        raise ChunkRefused
    return sessions.push_command(session_id, command)
