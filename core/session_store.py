"""The live-session aggregate in Redis: its record, its audio so far, its events, its worker's lease.

A session is made by `POST /v1/sessions` (the API), fed chunk by chunk over a WebSocket (any API
replica: `append` is one atomic script, so a chunk is stored once, in order, before it is
acknowledged), served by one worker at a time (`claim`/`renew`: the lease), which commits each final
utterance and its event together (`commit_final`), and ended as a normal job (`end_as_job`): its audio
is put where every job's audio goes (the job store's own audio store), then one transaction creates the
job's record and callback, deletes the session's audio and tells `ended` to every listener. Its worker
ends it; when no worker has within a few seconds of `end`, the API does (`api.session_service`).

Once `ending`, a session's keys live as long as a queued job would, so audio that was acknowledged
waits for whoever makes it a job. Its options (vocabulary, callback) are kept under their own key, read
once when a worker takes it; the hash every look reads holds only small fields.

The store's concepts live in their own modules, and `SessionStore` joins them: the stored shapes and
reads (`core.session_records`), the worker's lease (`core.session_leases`), the end as a job
(`core.session_ending`); this module keeps the session's own writes (create, append, end, finals).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from redis.client import Pipeline

from core import keys
from core.redis_calls import Lua, as_int, as_text, as_texts, transact
from core.session_commands import SessionCommands
from core.session_ending import END_ATTEMPTS, READ_BYTES, SessionEnding
from core.session_leases import SessionLeases
from core.session_records import (
    BYTES_PER_SECOND,
    ENDED_KEEP_SECONDS,
    EVENTS_KEPT,
    LIVE_PAGE,
    MIN_CHUNK_BYTES,
    SAMPLE_RATE,
    Appended,
    SessionHead,
    SessionMeta,
    SessionState,
    SessionStatus,
    encode_event,
    new_session_id,
    wav_header,
)

__all__ = [
    "BYTES_PER_SECOND", "ENDED_KEEP_SECONDS", "END_ATTEMPTS", "EVENTS_KEPT", "LIVE_PAGE", "MIN_CHUNK_BYTES",
    "READ_BYTES", "SAMPLE_RATE", "Appended", "SessionHead", "SessionMeta", "SessionState", "SessionStatus",
    "SessionStore", "encode_event", "new_session_id", "wav_header",
]

_APPEND = Lua("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1, 0} end
local nxt = tonumber(redis.call('HGET', KEYS[1], 'next_seq'))
local seq = tonumber(ARGV[1])
if string.len(ARGV[2]) < tonumber(ARGV[6]) then return {-5, nxt} end
if seq < nxt then return {0, nxt} end
if status ~= 'open' then return {-2, nxt} end
if seq > nxt then return {-3, nxt} end
local size = tonumber(redis.call('HGET', KEYS[1], 'audio_bytes'))
if size + string.len(ARGV[2]) > tonumber(ARGV[4]) then return {-4, nxt} end
redis.call('APPEND', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'next_seq', nxt + 1, 'audio_bytes', size + string.len(ARGV[2]), 'last_audio_at', ARGV[3])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
return {1, nxt + 1}
""")
# Write only while `holder` holds the session's lease: a worker that lost it must not commit a final.
_COMMIT_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'committed_bytes', ARGV[2], 'segment', ARGV[3], 'prompt', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[7]) then redis.call('PEXPIRE', KEYS[3], ARGV[7]) end
end
return 1
""")
# An ending session's events live as long as its audio: an event then must not shorten their life.
_EMIT = Lua("""
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
""")


class SessionStore(SessionLeases, SessionEnding, SessionCommands):
    """A live session's record, audio, events and lease in Redis: the API's side (create, append, end),
    the worker's (`SessionLeases`, `commit_final`), the end as a job (`SessionEnding`) and its client's
    commands (`SessionCommands`)."""

    def __init__(self, client: redis.Redis, keep_seconds: float, retention_seconds: int | None = None) -> None:
        self.redis = client
        self.keep_ms = int(keep_seconds * 1000)
        """How long an open session's keys live past their last write (its length limit plus idle time)."""
        if retention_seconds is None:
            from core.settings import get_settings

            retention_seconds = get_settings().retention_seconds
        self.ending_ms = max(self.keep_ms, retention_seconds * 1000)
        """How long an ending session's keys live: as long as a queued job would, for whoever makes it one."""

    # ---- the API's side ------------------------------------------------------------------------

    def create(self, meta: SessionMeta, max_per_tenant: int) -> int | None:
        """Store a new open session; None, or its tenant's open count when it is at `max_per_tenant` (0: off)."""
        owned = keys.tenant_sessions_key(meta.tenant)

        def body(pipe: Pipeline) -> int | None:
            if max_per_tenant:
                members = as_texts(pipe.zrange(owned, 0, -1))
                # Only open sessions count: an ending one is the client's past, whoever makes it a job.
                stale = [m for m in members
                         if pipe.hget(keys.session_key(m), "status") != SessionStatus.OPEN.value.encode()]
                if len(members) - len(stale) >= max_per_tenant:
                    return len(members) - len(stale)
            pipe.multi()
            if max_per_tenant and stale:
                pipe.zrem(owned, *stale)
            key = keys.session_key(meta.id)
            pipe.hset(key, mapping={keys.TENANT_FIELD: meta.tenant, "job_id": meta.job_id,
                                    "created_at": meta.created_at,
                                    "status": SessionStatus.OPEN.value, "next_seq": 0, "audio_bytes": 0,
                                    "last_audio_at": meta.created_at, "committed_bytes": 0, "segment": 0,
                                    "prompt": "", "reason": ""})
            pipe.pexpire(key, self.keep_ms)
            pipe.set(keys.session_meta_key(meta.id), meta.model_dump_json(by_alias=True), px=self.keep_ms)
            pipe.zadd(keys.LIVE_SESSIONS, {meta.id: meta.created_at})
            pipe.zadd(owned, {meta.id: meta.created_at})
            return None

        return transact(self.redis, body, owned)

    def append(self, session_id: str, seq: int, chunk: bytes, max_bytes: int,
               min_bytes: int = MIN_CHUNK_BYTES) -> tuple[Appended, int]:
        """Store chunk `seq` if it is the next one: what happened, and the next sequence number expected."""
        result, next_seq = _APPEND(
            self.redis, [keys.session_key(session_id), keys.session_audio_key(session_id),
                         keys.session_meta_key(session_id)],
            seq, chunk, time.time(), max_bytes, self.keep_ms, min_bytes)
        return Appended(as_int(result)), as_int(next_seq)

    def request_end(self, session_id: str, reason: str) -> bool:
        """Ask the session's worker to make its last final and end it as a job; False if not open.

        From now on its keys live as long as a queued job would, and it no longer counts as open: its
        audio waits for its worker, or for the API's sweep (`ending_since`) when no worker takes it.
        """
        session_key = keys.session_key(session_id)

        def body(pipe: Pipeline) -> bool:
            tenant = as_text(pipe.hget(session_key, keys.TENANT_FIELD))
            if pipe.hget(session_key, "status") != SessionStatus.OPEN.value.encode():
                return False
            now = time.time()
            pipe.multi()
            pipe.hset(session_key, mapping={"status": SessionStatus.ENDING.value, "reason": reason,
                                            "ending_at": now})
            for key in (session_key, keys.session_audio_key(session_id), keys.session_meta_key(session_id),
                        keys.session_events_key(session_id), keys.session_commands_key(session_id)):
                pipe.pexpire(key, self.ending_ms)
            pipe.zadd(keys.ENDING_SESSIONS, {session_id: now})
            if tenant is not None:
                pipe.zrem(keys.tenant_sessions_key(tenant), session_id)
            return True

        return transact(self.redis, body, session_key)

    def forget(self, session_id: str) -> None:
        """A session id in the live set whose record is gone (expired): nobody serves it any more."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(keys.LIVE_SESSIONS, session_id)
        pipe.zrem(keys.ENDING_SESSIONS, session_id)
        pipe.execute()

    # ---- events and finals ---------------------------------------------------------------------

    def emit(self, session_id: str, event: dict[str, Any]) -> None:
        """Tell the session's listeners; the events expire with an abandoned session's other keys."""
        _EMIT(self.redis, [keys.session_events_key(session_id)], encode_event(event), EVENTS_KEPT, self.keep_ms)

    def commit_final(self, session_id: str, holder: str, committed_bytes: int, segment: int, prompt: str,
                     event: dict[str, Any] | None) -> bool:
        """Record a final (where the next utterance starts, its number, its prompt) and tell it, at once,
        while `holder` holds the session's lease (an utterance the model heard nothing in moves the start
        on, untold)."""
        return bool(_COMMIT_IF_HOLDER(
            self.redis, [keys.session_key(session_id), keys.session_lease_key(session_id),
                         keys.session_events_key(session_id)],
            holder, committed_bytes, segment, prompt, encode_event(event) if event else "", EVENTS_KEPT,
            self.keep_ms))
