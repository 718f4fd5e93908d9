"""The live-session aggregate in Redis: its record, its audio so far, its events, its worker's lease.

A session is made by `POST /v1/sessions` (the API), fed chunk by chunk over a WebSocket (any API
replica: `append` is one atomic script, so a chunk is stored once, in order, before it is
acknowledged), served by one worker at a time (`claim`/`renew`: the lease), which commits each final
utterance and its event together (`commit_final`), and ended by that worker as a normal job in one
transaction (`end_as_job`): the job's record, audio and callback are created, the session's audio is
deleted, and `ended` is told to every listener.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import wave
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, cast

import redis
from pydantic import BaseModel
from redis.client import Pipeline

from core import keys, leases
from core.job_codec import text, utcnow
from core.job_store import JobStore
from core.jobs import JobOptions, JobRecord
from core.webhook_store import WebhookConfig

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2
EVENTS_KEPT = 5000
"""Events a session's stream keeps (partials included): enough for a reconnecting client to catch up."""
LIVE_PAGE = 128
"""Session ids read from the live set at a time (so a scan never reads the whole set at once)."""
ENDED_KEEP_SECONDS = 600
"""How long an ended session's record and events stay, for a client that reconnects to read `ended`."""


class SessionStatus(StrEnum):
    OPEN = "open"
    ENDING = "ending"
    """The client said `end` (or went quiet, or hit the length limit): its worker makes the last final,
    then the job."""
    ENDED = "ended"


class Appended(IntEnum):
    """What `append` did with a chunk."""

    STORED = 1
    DUPLICATE = 0
    """Already stored (a resent chunk): acknowledged again, not stored twice."""
    MISSING = -1
    CLOSED = -2
    GAP = -3
    """A chunk after one the session has not got: the client must resend from `next_seq`."""
    TOO_LONG = -4


class SessionMeta(BaseModel):
    """What a session is created with and never changes."""

    id: str
    owner: str = ""
    options: JobOptions = JobOptions()
    callback: WebhookConfig | None = None
    job_id: str
    """The job the session becomes when it ends (fixed at creation, so every replica names the same one)."""
    created_at: float
    base_url: str = ""


@dataclass
class SessionState:
    """A session's record as read now."""

    meta: SessionMeta
    status: SessionStatus
    next_seq: int
    audio_bytes: int
    last_audio_at: float
    committed_bytes: int
    """Audio before this offset is in a final already; the utterance in progress starts here."""
    segment: int
    """The number the next final gets."""
    prompt: str
    """The last final's text: the next utterance's prompt."""
    reason: str

    @property
    def audio_seconds(self) -> float:
        return self.audio_bytes / BYTES_PER_SECOND


_APPEND = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1, 0} end
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next_seq'))
local seq = tonumber(ARGV[1])
if seq < nxt then return {0, nxt} end
if status ~= 'open' then return {-2, nxt} end
if seq > nxt then return {-3, nxt} end
local size = tonumber(redis.call('HGET', KEYS[1], 'audio_bytes'))
if size + string.len(ARGV[2]) > tonumber(ARGV[4]) then return {-4, nxt} end
redis.call('APPEND', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[1], 'next_seq', nxt + 1, 'audio_bytes', size + string.len(ARGV[2]), 'last_audio_at', ARGV[3])
return {1, nxt + 1}
"""
# Write only while `owner` holds the session's lease: a worker that lost it must not commit a final.
_COMMIT_IF_OWNER = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'committed_bytes', ARGV[2], 'segment', ARGV[3], 'prompt', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
return 1
"""


def pcm_to_wav(pcm: bytes) -> bytes:
    """16 kHz mono s16le samples as a WAV: the format the worker reads in-process, without ffmpeg."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def encode_event(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


class SessionStore:
    def __init__(self, client: redis.Redis, keep_seconds: float) -> None:
        self.redis = client
        self.keep_ms = int(keep_seconds * 1000)
        """How long an open session's keys live past their last write (its length limit plus idle time)."""

    # ---- the API's side ------------------------------------------------------------------------

    def create(self, meta: SessionMeta, max_per_owner: int) -> int | None:
        """Store a new open session; None, or the owner's open count when it is at `max_per_owner` (0: off)."""
        owned = keys.owner_sessions_key(meta.owner)

        def body(pipe: Pipeline) -> int | None:
            if max_per_owner:
                members = [text(m) for m in cast(list[bytes], pipe.zrange(owned, 0, -1))]
                stale = [m for m in members if pipe.hget(keys.session_key(m), "status")
                         in (None, SessionStatus.ENDED.value.encode())]
                if len(members) - len(stale) >= max_per_owner:
                    return len(members) - len(stale)
            pipe.multi()
            if max_per_owner and stale:
                pipe.zrem(owned, *stale)
            key = keys.session_key(meta.id)
            pipe.hset(key, mapping={"meta": meta.model_dump_json(), "status": SessionStatus.OPEN.value,
                                    "next_seq": 0, "audio_bytes": 0, "last_audio_at": meta.created_at,
                                    "committed_bytes": 0, "segment": 0, "prompt": "", "reason": ""})
            pipe.pexpire(key, self.keep_ms)
            pipe.zadd(keys.LIVE_SESSIONS, {meta.id: meta.created_at})
            pipe.zadd(owned, {meta.id: meta.created_at})
            return None

        return cast(int | None, self.redis.transaction(cast(Any, body), owned, value_from_callable=True))

    def get(self, session_id: str) -> SessionState | None:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(keys.session_key(session_id)))
        if not raw:
            return None
        return _state({text(k): text(v) for k, v in raw.items()})

    def append(self, session_id: str, seq: int, chunk: bytes, max_bytes: int) -> tuple[Appended, int]:
        """Store chunk `seq` if it is the next one: what happened, and the next sequence number expected."""
        result, next_seq = cast(list[int], self.redis.eval(  # type: ignore[no-untyped-call]
            _APPEND, 2, keys.session_key(session_id), keys.session_audio_key(session_id),
            seq, chunk, time.time(), max_bytes, self.keep_ms))
        if result == Appended.STORED:
            self.redis.pexpire(keys.session_key(session_id), self.keep_ms)
        return Appended(int(result)), int(next_seq)

    def request_end(self, session_id: str, reason: str) -> bool:
        """Ask the session's worker to make its last final and end it as a job; False if not open."""

        def body(pipe: Pipeline) -> bool:
            if pipe.hget(keys.session_key(session_id), "status") != SessionStatus.OPEN.value.encode():
                return False
            pipe.multi()
            pipe.hset(keys.session_key(session_id), mapping={"status": SessionStatus.ENDING.value, "reason": reason})
            return True

        return cast(bool, self.redis.transaction(cast(Any, body), keys.session_key(session_id),
                                                 value_from_callable=True))

    def is_served(self, session_id: str) -> bool:
        return bool(self.redis.exists(keys.session_lease_key(session_id)))

    # ---- events --------------------------------------------------------------------------------

    def emit(self, session_id: str, event: dict[str, Any]) -> None:
        """Tell the session's listeners; the events expire with an abandoned session's other keys."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(keys.session_events_key(session_id), {"e": encode_event(event)}, maxlen=EVENTS_KEPT,
                  approximate=True)
        pipe.pexpire(keys.session_events_key(session_id), self.keep_ms)
        pipe.execute()

    # ---- the worker's side ---------------------------------------------------------------------

    def live_sessions(self, limit: int, start: int = 0) -> list[str]:
        """Up to `limit` open sessions from position `start` of the live set, oldest first (a negative
        `start` counts from the newest end: -10 is the 10 newest)."""
        end = start + limit - 1
        return [text(m) for m in cast(list[bytes], self.redis.zrange(keys.LIVE_SESSIONS, start, end))]

    def claim(self, session_id: str, owner: str, lease_seconds: float) -> bool:
        return bool(self.redis.set(keys.session_lease_key(session_id), owner, nx=True,
                                   px=int(lease_seconds * 1000)))

    def renew(self, session_id: str, owner: str, lease_seconds: float) -> bool:
        return leases.renew(self.redis, keys.session_lease_key(session_id), owner, lease_seconds)

    def release(self, session_id: str, owner: str) -> None:
        leases.release(self.redis, keys.session_lease_key(session_id), owner)

    def unserved(self, limit: int = 1000) -> list[str]:
        """Up to `limit` open sessions no worker holds now (its worker died, or every worker was busy when
        it came), oldest first, from the whole live set (a page at a time)."""
        found: list[str] = []
        start = 0
        while len(found) < limit:
            ids = self.live_sessions(LIVE_PAGE, start)
            found += self.unheld(ids)
            if len(ids) < LIVE_PAGE:
                break
            start += LIVE_PAGE
        return found[:limit]

    def unheld(self, ids: list[str]) -> list[str]:
        """Those of `ids` no worker holds now, in their order."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for session_id in ids:
            pipe.exists(keys.session_lease_key(session_id))
        return [session_id for session_id, held in zip(ids, pipe.execute(), strict=True) if not held]

    def forget(self, session_id: str) -> None:
        """A session id in the live set whose record is gone (expired): nobody serves it any more."""
        self.redis.zrem(keys.LIVE_SESSIONS, session_id)

    def read_audio(self, session_id: str, start_byte: int, end_byte: int | None = None) -> bytes:
        """The session's audio from `start_byte` to `end_byte` (not included), or to what is stored now."""
        if end_byte is not None and end_byte <= start_byte:
            return b""
        last = -1 if end_byte is None else end_byte - 1
        return cast(bytes, self.redis.getrange(keys.session_audio_key(session_id), start_byte, last))

    def commit_final(self, session_id: str, owner: str, committed_bytes: int, segment: int, prompt: str,
                     event: dict[str, Any] | None) -> bool:
        """Record a final (where the next utterance starts, its number, its prompt) and tell it, at once
        (an utterance the model heard nothing in moves the start on, untold)."""
        return bool(self.redis.eval(  # type: ignore[no-untyped-call]
            _COMMIT_IF_OWNER, 3, keys.session_key(session_id), keys.session_lease_key(session_id),
            keys.session_events_key(session_id), owner, committed_bytes, segment, prompt,
            encode_event(event) if event else "", EVENTS_KEPT, self.keep_ms))

    def end_as_job(self, session_id: str, jobs: JobStore) -> str | None:
        """Make the whole session audio a normal job (record, audio, callback: `JobStore.stage_create`),
        delete the session's audio, and tell `ended`, in one transaction. The job's id; None if the session
        is gone. Ending an ended session again changes nothing."""
        session_key, audio_key = keys.session_key(session_id), keys.session_audio_key(session_id)

        def body(pipe: Pipeline) -> str | None:
            state = self.get_on(pipe, session_id)
            if state is None:
                return None
            meta = state.meta
            if state.status == SessionStatus.ENDED:
                return meta.job_id
            wav = pcm_to_wav(cast(bytes, pipe.get(audio_key) or b""))
            record = JobRecord(id=meta.job_id, owner=meta.owner, options=meta.options, upload_bytes=len(wav),
                               audio_format="wav", created_at=utcnow())
            callback = meta.callback
            if callback is not None:
                base = meta.base_url.rstrip("/")
                callback = callback.model_copy(update={"status_url": f"{base}/v1/jobs/{meta.job_id}",
                                                       "result_url": f"{base}/v1/jobs/{meta.job_id}/result"})
            pipe.multi()
            jobs.stage_create(pipe, record, wav, callback)
            pipe.hset(session_key, "status", SessionStatus.ENDED.value)
            pipe.delete(audio_key, keys.session_lease_key(session_id))
            pipe.zrem(keys.LIVE_SESSIONS, session_id)
            pipe.zrem(keys.owner_sessions_key(meta.owner), session_id)
            base = meta.base_url.rstrip("/")
            pipe.xadd(keys.session_events_key(session_id), {"e": encode_event({
                "type": "ended", "job_id": meta.job_id, "result_url": f"{base}/v1/jobs/{meta.job_id}/result",
                "reason": state.reason or "end"})}, maxlen=EVENTS_KEPT, approximate=True)
            # The record and events stay a little, for a client that reconnects to read `ended`; the
            # transcript itself lives on in the job, under the job's retention.
            pipe.expire(session_key, ENDED_KEEP_SECONDS)
            pipe.expire(keys.session_events_key(session_id), ENDED_KEEP_SECONDS)
            return meta.job_id

        return cast(str | None, self.redis.transaction(cast(Any, body), session_key, value_from_callable=True))

    def get_on(self, pipe: Pipeline, session_id: str) -> SessionState | None:
        """`get` under a WATCH (before MULTI)."""
        raw = cast(dict[bytes, bytes], pipe.hgetall(keys.session_key(session_id)))
        if not raw:
            return None
        return _state({text(k): text(v) for k, v in raw.items()})


def _state(fields: dict[str, str]) -> SessionState:
    return SessionState(
        meta=SessionMeta.model_validate_json(fields["meta"]), status=SessionStatus(fields["status"]),
        next_seq=int(fields["next_seq"]), audio_bytes=int(fields["audio_bytes"]),
        last_audio_at=float(fields["last_audio_at"]), committed_bytes=int(fields["committed_bytes"]),
        segment=int(fields["segment"]), prompt=fields["prompt"], reason=fields["reason"],
    )


def new_session_id() -> str:
    return str(uuid.uuid4())
