"""The live-session aggregate in Redis: its record, its audio so far, its events, its worker's lease.

A session is made by `POST /v1/sessions` (the API), fed chunk by chunk over a WebSocket (any API
replica: `append` is one atomic script, so a chunk is stored once, in order, before it is
acknowledged), served by one worker at a time (`claim`/`renew`: the lease), which commits each final
utterance and its event together (`commit_final`), and ended as a normal job (`end_as_job`): its audio
is put where every job's audio goes (the configured `AudioStore`), then one transaction creates the
job's record and callback, deletes the session's audio and tells `ended` to every listener. Its worker
ends it; when no worker has within a few seconds of `end`, the API does (`api.session_service`).

Once `ending`, a session's keys live as long as a queued job would, so audio that was acknowledged
waits for whoever makes it a job. Its options (vocabulary, callback) are kept under their own key, read
once when a worker takes it; the hash every look reads holds only small fields.
"""

from __future__ import annotations

import json
import logging
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, cast

import redis
from pydantic import BaseModel
from redis.client import Pipeline

from core import keys, leases
from core.audio_store import MB, AudioStore
from core.job_codec import text, utcnow
from core.job_participants import Transition
from core.job_store import JobStore
from core.jobs import JobOptions, JobRecord
from core.webhook_store import WebhookConfig

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2
EVENTS_KEPT = 5000
"""Events a session's stream keeps (partials included): enough for a reconnecting client to catch up."""
LIVE_PAGE = 128
"""Session ids read from the live set at a time (so a scan never reads the whole set at once)."""
ENDED_KEEP_SECONDS = 600
"""How long an ended session's record and events stay, for a client that reconnects to read `ended`."""
MIN_CHUNK_BYTES = 640
"""20 ms: a shorter chunk (an empty frame included) is no audio, and must not keep a session alive."""
READ_BYTES = 4 * MB
"""A session's audio is read for its job a piece at a time, so no Redis reply is larger (Upstash: 10 MB)."""
END_ATTEMPTS = 5


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
    TOO_SHORT = -5
    """Under `MIN_CHUNK_BYTES` (empty included): not stored, and the session's idle clock is not reset."""


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

    @property
    def head(self) -> SessionHead:
        return SessionHead(self.id, self.owner, self.job_id, self.created_at)


@dataclass(frozen=True)
class SessionHead:
    """What every look at a session needs of what it was made with (the rest: `SessionStore.meta`)."""

    id: str
    owner: str
    job_id: str
    created_at: float


@dataclass
class SessionState:
    """A session's record as read now."""

    meta: SessionHead
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
    ending_at: float = 0.0
    """When its end was asked for (epoch seconds; 0: open)."""

    @property
    def audio_seconds(self) -> float:
        return self.audio_bytes / BYTES_PER_SECOND


_APPEND = """
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
"""
# Write only while `owner` holds the session's lease: a worker that lost it must not commit a final.
_COMMIT_IF_OWNER = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'committed_bytes', ARGV[2], 'segment', ARGV[3], 'prompt', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[5])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[7]) then redis.call('PEXPIRE', KEYS[3], ARGV[7]) end
end
return 1
"""
# An ending session's events live as long as its audio: an event then must not shorten their life.
_EMIT = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
"""


def wav_header(pcm_bytes: int) -> bytes:
    """The header of a WAV of `pcm_bytes` of 16 kHz mono s16le samples: the format the worker reads
    in-process, without ffmpeg (the samples follow it as they are read, a piece at a time)."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + pcm_bytes, b"WAVE", b"fmt ", 16, 1, 1, SAMPLE_RATE,
                       BYTES_PER_SECOND, 2, 16, b"data", pcm_bytes)


def encode_event(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


class SessionStore:
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

    def create(self, meta: SessionMeta, max_per_owner: int) -> int | None:
        """Store a new open session; None, or the owner's open count when it is at `max_per_owner` (0: off)."""
        owned = keys.owner_sessions_key(meta.owner)

        def body(pipe: Pipeline) -> int | None:
            if max_per_owner:
                members = [text(m) for m in cast(list[bytes], pipe.zrange(owned, 0, -1))]
                # Only open sessions count: an ending one is the client's past, whoever makes it a job.
                stale = [m for m in members
                         if pipe.hget(keys.session_key(m), "status") != SessionStatus.OPEN.value.encode()]
                if len(members) - len(stale) >= max_per_owner:
                    return len(members) - len(stale)
            pipe.multi()
            if max_per_owner and stale:
                pipe.zrem(owned, *stale)
            key = keys.session_key(meta.id)
            pipe.hset(key, mapping={"owner": meta.owner, "job_id": meta.job_id, "created_at": meta.created_at,
                                    "status": SessionStatus.OPEN.value, "next_seq": 0, "audio_bytes": 0,
                                    "last_audio_at": meta.created_at, "committed_bytes": 0, "segment": 0,
                                    "prompt": "", "reason": ""})
            pipe.pexpire(key, self.keep_ms)
            pipe.set(keys.session_meta_key(meta.id), meta.model_dump_json(), px=self.keep_ms)
            pipe.zadd(keys.LIVE_SESSIONS, {meta.id: meta.created_at})
            pipe.zadd(owned, {meta.id: meta.created_at})
            return None

        return cast(int | None, self.redis.transaction(cast(Any, body), owned, value_from_callable=True))

    def get(self, session_id: str) -> SessionState | None:
        """The session's small fields (what every look needs); None if it is gone."""
        values = cast(list[bytes | None], self.redis.hmget(keys.session_key(session_id), _FIELDS))
        return self._state(self.redis, session_id, values)

    def meta(self, session_id: str) -> SessionMeta | None:
        """What the session was made with (options, callback): read when a worker takes it, and to end it."""
        raw = self.redis.get(keys.session_meta_key(session_id))
        if raw is None:  # a session stored by an earlier version keeps it in its hash
            raw = self.redis.hget(keys.session_key(session_id), "meta")
        return SessionMeta.model_validate_json(cast(bytes, raw)) if raw is not None else None

    def append(self, session_id: str, seq: int, chunk: bytes, max_bytes: int,
               min_bytes: int = MIN_CHUNK_BYTES) -> tuple[Appended, int]:
        """Store chunk `seq` if it is the next one: what happened, and the next sequence number expected."""
        result, next_seq = cast(list[int], self.redis.eval(  # type: ignore[no-untyped-call]
            _APPEND, 3, keys.session_key(session_id), keys.session_audio_key(session_id),
            keys.session_meta_key(session_id), seq, chunk, time.time(), max_bytes, self.keep_ms, min_bytes))
        return Appended(int(result)), int(next_seq)

    def request_end(self, session_id: str, reason: str) -> bool:
        """Ask the session's worker to make its last final and end it as a job; False if not open.

        From now on its keys live as long as a queued job would, and it no longer counts as open: its
        audio waits for its worker, or for the API's sweep (`ending_since`) when no worker takes it.
        """
        session_key = keys.session_key(session_id)

        def body(pipe: Pipeline) -> bool:
            owner = pipe.hget(session_key, "owner")
            if pipe.hget(session_key, "status") != SessionStatus.OPEN.value.encode():
                return False
            now = time.time()
            pipe.multi()
            pipe.hset(session_key, mapping={"status": SessionStatus.ENDING.value, "reason": reason,
                                            "ending_at": now})
            for key in (session_key, keys.session_audio_key(session_id), keys.session_meta_key(session_id),
                        keys.session_events_key(session_id)):
                pipe.pexpire(key, self.ending_ms)
            pipe.zadd(keys.ENDING_SESSIONS, {session_id: now})
            if owner is not None:
                pipe.zrem(keys.owner_sessions_key(text(cast(bytes, owner))), session_id)
            return True

        return cast(bool, self.redis.transaction(cast(Any, body), session_key, value_from_callable=True))

    def ending_since(self, before: float, limit: int = 100) -> list[str]:
        """Sessions whose end was asked for before `before` (epoch seconds) that are not jobs yet."""
        found = self.redis.zrangebyscore(keys.ENDING_SESSIONS, "-inf", before, start=0, num=limit)
        return [text(cast(bytes, i)) for i in found]

    def is_served(self, session_id: str) -> bool:
        return bool(self.redis.exists(keys.session_lease_key(session_id)))

    def claim_wake(self, period_seconds: float) -> bool:
        """True once per `period_seconds` across every process: the caller sends the live task."""
        return bool(self.redis.set(keys.LIVE_WAKE_SENT, "1", nx=True, px=int(period_seconds * 1000)))

    # ---- events --------------------------------------------------------------------------------

    def emit(self, session_id: str, event: dict[str, Any]) -> None:
        """Tell the session's listeners; the events expire with an abandoned session's other keys."""
        self.redis.eval(_EMIT, 1, keys.session_events_key(session_id),  # type: ignore[no-untyped-call]
                        encode_event(event), EVENTS_KEPT, self.keep_ms)

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
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(keys.LIVE_SESSIONS, session_id)
        pipe.zrem(keys.ENDING_SESSIONS, session_id)
        pipe.execute()

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

    # ---- the end -------------------------------------------------------------------------------

    def end_as_job(self, session_id: str, jobs: JobStore, audio: AudioStore | None = None) -> str | None:
        """Make the whole session audio a normal job through the job aggregate: put the audio in the job
        store's own audio store (`jobs.audio`, where every job's audio is), then, in one transaction,
        create the job (`JobStore.stage_create`: record, callback and every participant), delete the
        session's audio and tell `ended`. The job's id; None if the session is gone (and the audio put
        for it is deleted). Ending an ended session again changes nothing.

        `audio` is accepted for callers of the earlier signature and not used: a session's audio cannot
        go anywhere its job's store does not know (that bypass once failed every session on S3).

        The caller holds the session's lease (its worker, or the API's sweep), so no one else puts the
        same job's audio meanwhile. An object-store error is raised with the session left as it was.
        """
        for _ in range(END_ATTEMPTS):
            state = self.get(session_id)
            if state is None:
                return None
            if state.status == SessionStatus.ENDED:
                return state.meta.job_id
            meta = self.meta(session_id)
            if meta is None:
                return None
            size = self._put_audio(session_id, meta.job_id, state.audio_bytes, jobs.audio)
            outcome = self._commit_job(session_id, meta, state, size, jobs)
            if outcome == _Commit.GONE:
                _delete_quietly(jobs.audio, meta.job_id)
                return None
            if outcome == _Commit.DONE:
                jobs.committed(Transition.CREATED, meta.job_id)
            if outcome != _Commit.CHANGED:
                # ENDED by someone else meanwhile: the audio under the job's id is that job's (the same
                # samples: an ending session takes no chunks), so it stays.
                return meta.job_id
        raise RuntimeError(f"session {session_id} kept changing while it was being ended")

    def _put_audio(self, session_id: str, job_id: str, audio_bytes: int, audio: AudioStore) -> int:
        """Put the session's first `audio_bytes` as the job's WAV, read a piece at a time; its size."""
        audio_key = keys.session_audio_key(session_id)
        stored = min(audio_bytes, int(self.redis.strlen(audio_key)))
        stored -= stored % 2

        def wav() -> Iterator[bytes]:
            yield wav_header(stored)
            for start in range(0, stored, READ_BYTES):
                yield cast(bytes, self.redis.getrange(audio_key, start, min(start + READ_BYTES, stored) - 1))

        return audio.put(job_id, wav())

    def _commit_job(self, session_id: str, meta: SessionMeta, put: SessionState, size: int,
                    jobs: JobStore) -> _Commit:
        session_key, audio_key = keys.session_key(session_id), keys.session_audio_key(session_id)

        def body(pipe: Pipeline) -> _Commit:
            state = self._state(pipe, session_id, cast(list[bytes | None], pipe.hmget(session_key, _FIELDS)))
            if state is None:
                return _Commit.GONE
            if state.status == SessionStatus.ENDED:
                return _Commit.ENDED
            if state.audio_bytes != put.audio_bytes:
                return _Commit.CHANGED  # an open session took a chunk after its audio was put: put again
            record = JobRecord(id=meta.job_id, owner=meta.owner, options=meta.options, upload_bytes=size,
                               audio_format="wav", created_at=utcnow())
            base = meta.base_url.rstrip("/")
            callback = meta.callback
            if callback is not None:
                callback = callback.model_copy(update={"status_url": f"{base}/v1/jobs/{meta.job_id}",
                                                       "result_url": f"{base}/v1/jobs/{meta.job_id}/result"})
            pipe.multi()
            jobs.stage_create(pipe, record, callback)
            pipe.hset(session_key, "status", SessionStatus.ENDED.value)
            pipe.delete(audio_key, keys.session_lease_key(session_id), keys.session_meta_key(session_id))
            pipe.zrem(keys.LIVE_SESSIONS, session_id)
            pipe.zrem(keys.ENDING_SESSIONS, session_id)
            pipe.zrem(keys.owner_sessions_key(meta.owner), session_id)
            pipe.xadd(keys.session_events_key(session_id), {"e": encode_event({
                "type": "ended", "job_id": meta.job_id, "result_url": f"{base}/v1/jobs/{meta.job_id}/result",
                "reason": state.reason or "end"})}, maxlen=EVENTS_KEPT, approximate=True)
            # The record and events stay a little, for a client that reconnects to read `ended`; the
            # transcript itself lives on in the job, under the job's retention.
            pipe.expire(session_key, ENDED_KEEP_SECONDS)
            pipe.expire(keys.session_events_key(session_id), ENDED_KEEP_SECONDS)
            return _Commit.DONE

        return cast(_Commit, self.redis.transaction(cast(Any, body), session_key, value_from_callable=True))

    @staticmethod
    def _state(client: redis.Redis | Pipeline, session_id: str, values: list[bytes | None]) -> SessionState | None:
        fields = {name: text(v) for name, v in zip(_FIELDS, values, strict=True) if v is not None}
        if "status" not in fields or "next_seq" not in fields:
            return None
        if "owner" not in fields:  # stored by an earlier version: who owns it is in its options' JSON
            raw = client.hget(keys.session_key(session_id), "meta")
            if raw is None:
                return None
            head = SessionMeta.model_validate_json(cast(bytes, raw)).head
        else:
            head = SessionHead(session_id, fields["owner"], fields["job_id"], float(fields["created_at"]))
        return SessionState(
            meta=head, status=SessionStatus(fields["status"]), next_seq=int(fields["next_seq"]),
            audio_bytes=int(fields["audio_bytes"]), last_audio_at=float(fields["last_audio_at"]),
            committed_bytes=int(fields["committed_bytes"]), segment=int(fields["segment"]),
            prompt=fields.get("prompt", ""), reason=fields.get("reason", ""),
            ending_at=float(fields.get("ending_at", 0.0)),
        )


class _Commit(StrEnum):
    DONE = "done"
    ENDED = "ended"
    GONE = "gone"
    CHANGED = "changed"


_FIELDS = ("status", "next_seq", "audio_bytes", "last_audio_at", "committed_bytes", "segment", "prompt", "reason",
           "ending_at", "owner", "job_id", "created_at")


def _delete_quietly(audio: AudioStore, job_id: str) -> None:
    try:
        audio.delete(job_id)
    except Exception as exc:  # noqa: BLE001 - no job names it: the audio sweep (or its pending TTL) removes it
        log.warning("could not delete the audio put for a session that is gone (%s)", exc.__class__.__name__)


def new_session_id() -> str:
    return str(uuid.uuid4())
