"""A live session's stored shapes: what it is made with, its record as read, and reading it.

A session's hash (`keys.session_key`) holds only the small fields every look reads (`FIELDS`); what it
was made with and never changes (`SessionMeta`: options, callback) is under its own key.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import redis
from pydantic import AliasChoices, BaseModel, Field
from redis.client import Pipeline

from core import keys
from core.job_codec import text
from core.jobs import JobOptions
from core.redis_calls import as_bytes, as_optional_bytes_list, as_texts
from core.webhook_records import WebhookConfig

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2


def byte_at(seconds: float) -> int:
    """Where `seconds` into a session's audio falls, in bytes, on a whole sample (16-bit mono)."""
    return int(seconds * SAMPLE_RATE) * 2
EVENTS_KEPT = 5000
"""Events a session's stream keeps (partials included): enough for a reconnecting client to catch up."""
LIVE_PAGE = 128
"""Session ids read from the live set at a time (so a scan never reads the whole set at once)."""
ENDED_KEEP_SECONDS = 600
"""How long an ended session's record and events stay, for a client that reconnects to read `ended`."""
MIN_CHUNK_BYTES = 640
"""20 ms: a shorter chunk (an empty frame included) is no audio, and must not keep a session alive."""

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
    tenant: str = Field("", validation_alias=AliasChoices("tenant", keys.TENANT_FIELD),
                        serialization_alias=keys.TENANT_FIELD)
    """The API key's identity the session belongs to (stored as `keys.TENANT_FIELD`)."""
    options: JobOptions = JobOptions()
    callback: WebhookConfig | None = None
    job_id: str
    """The job the session becomes when it ends (fixed at creation, so every replica names the same one)."""
    created_at: float
    base_url: str = ""

    @property
    def head(self) -> SessionHead:
        return SessionHead(self.id, self.tenant, self.job_id, self.created_at)


@dataclass(frozen=True)
class SessionHead:
    """What every look at a session needs of what it was made with (the rest: `SessionStore.meta`)."""

    id: str
    tenant: str
    """The session's tenant (the API key's identity)."""
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
    commands: int = 0
    """Commands its client sent (`core.session_commands`)."""
    commands_applied: int = 0
    """Of those, how many its worker applied."""

    @property
    def audio_seconds(self) -> float:
        return self.audio_bytes / BYTES_PER_SECOND


FIELDS = ("status", "next_seq", "audio_bytes", "last_audio_at", "committed_bytes", "segment", "prompt", "reason",
          "ending_at", keys.TENANT_FIELD, "job_id", "created_at", "commands", "commands_applied")
"""The hash's fields a look reads."""


def read_state(client: redis.Redis | Pipeline, session_id: str, values: list[bytes | None]) -> SessionState | None:
    """The state from the hash's `FIELDS` values (HMGET); None if the session is gone."""
    fields = {name: text(v) for name, v in zip(FIELDS, values, strict=True) if v is not None}
    if "status" not in fields or "next_seq" not in fields:
        return None
    if keys.TENANT_FIELD not in fields:  # stored by an earlier version: who owns it is in its options' JSON
        raw = as_bytes(client.hget(keys.session_key(session_id), "meta"))
        if raw is None:
            return None
        head = SessionMeta.model_validate_json(raw).head
    else:
        head = SessionHead(session_id, fields[keys.TENANT_FIELD], fields["job_id"], float(fields["created_at"]))
    return SessionState(
        meta=head, status=SessionStatus(fields["status"]), next_seq=int(fields["next_seq"]),
        audio_bytes=int(fields["audio_bytes"]), last_audio_at=float(fields["last_audio_at"]),
        committed_bytes=int(fields["committed_bytes"]), segment=int(fields["segment"]),
        prompt=fields.get("prompt", ""), reason=fields.get("reason", ""),
        ending_at=float(fields.get("ending_at", 0.0)), commands=int(fields.get("commands", 0)),
        commands_applied=int(fields.get("commands_applied", 0)),
    )


class SessionReads:
    """Reads of a session's record, meta, audio and indexes (the base of `SessionStore`)."""

    redis: redis.Redis

    def get(self, session_id: str) -> SessionState | None:
        """The session's small fields (what every look needs); None if it is gone."""
        values = as_optional_bytes_list(self.redis.hmget(keys.session_key(session_id), FIELDS))
        return read_state(self.redis, session_id, values)

    def meta(self, session_id: str) -> SessionMeta | None:
        """What the session was made with (options, callback): read when a worker takes it, and to end it."""
        raw = as_bytes(self.redis.get(keys.session_meta_key(session_id)))
        if raw is None:  # a session stored by an earlier version keeps it in its hash
            raw = as_bytes(self.redis.hget(keys.session_key(session_id), "meta"))
        return SessionMeta.model_validate_json(raw) if raw is not None else None

    def read_audio(self, session_id: str, start_byte: int, end_byte: int | None = None) -> bytes:
        """The session's audio from `start_byte` to `end_byte` (not included), or to what is stored now."""
        if end_byte is not None and end_byte <= start_byte:
            return b""
        last = -1 if end_byte is None else end_byte - 1
        return as_bytes(self.redis.getrange(keys.session_audio_key(session_id), start_byte, last)) or b""

    def ending_since(self, before: float, limit: int = 100) -> list[str]:
        """Sessions whose end was asked for before `before` (epoch seconds) that are not jobs yet."""
        return as_texts(self.redis.zrangebyscore(keys.ENDING_SESSIONS, "-inf", before, start=0, num=limit))

    def live_sessions(self, limit: int, start: int = 0) -> list[str]:
        """Up to `limit` open sessions from position `start` of the live set, oldest first (a negative
        `start` counts from the newest end: -10 is the 10 newest)."""
        return as_texts(self.redis.zrange(keys.LIVE_SESSIONS, start, start + limit - 1))


def wav_header(pcm_bytes: int) -> bytes:
    """The header of a WAV of `pcm_bytes` of 16 kHz mono s16le samples: the format the worker reads
    in-process, without ffmpeg (the samples follow it as they are read, a piece at a time)."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + pcm_bytes, b"WAVE", b"fmt ", 16, 1, 1, SAMPLE_RATE,
                       BYTES_PER_SECOND, 2, 16, b"data", pcm_bytes)


def encode_event(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"))


def new_session_id() -> str:
    return str(uuid.uuid4())
