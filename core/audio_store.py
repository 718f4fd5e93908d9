"""Where uploaded audio lives until its job ends: Redis (default) or S3-compatible object storage.

Audio is written as it is read, in pieces of a few MB, so no process holds a whole upload and no
single request to the store is larger than a piece (Upstash refuses requests over 10 MB).

Each store is the job store's audio participant (`core.job_participants`), so no caller deletes a
job's audio itself:

- `RedisAudioStore`: a Redis list of pieces under `keys.audio_key(job_id)`. The job's own transactions
  give it the job's retention (create) and delete it with everything else (end, erase); a job in
  verification mode (`keep_audio_seconds`) has it expire that long after its end instead.
- the `s3` backend's store: one object per job. Object storage cannot join a Redis
  transaction, so it deletes the object right after the end or erase commits; a periodic sweep
  deletes what that missed (a failed delete, a process that died between the two). A kept job's end
  sets a marker in Redis with the window as its TTL instead, and the sweep leaves the object while it lives.

Which store a deployment uses, and what each backend is, is declared once: `core.audio_backends`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Protocol

import redis
from redis.client import Pipeline

from core import keys
from core.job_participants import Created, Ended, Erased, Participant
from core.redis_calls import as_bytes, as_int
from core.settings import StorageSettings

log = logging.getLogger(__name__)

MB = 1024 * 1024


class AudioStore(Protocol):
    """Put, read and delete one job's audio."""

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        """Store the audio as `chunks` yields it, replacing any stored under `job_id`, and return its
        size. If `chunks` (or the store) raises, nothing stays behind."""
        ...

    def get(self, job_id: str) -> bytes | None:
        """The whole audio, or None when it is gone."""
        ...

    def delete(self, job_id: str) -> None:
        """Remove the audio; no error when it is already gone."""
        ...

    def copy_to(self, job_id: str, out: BinaryIO) -> bool:
        """Write the audio into `out` a piece at a time (no whole copy in memory); False when it is gone."""
        ...

    def sweep(self, keep: Callable[[str], bool]) -> int:
        """Delete stored audio whose job `keep` says is over (ended, erased, expired); returns how many."""
        ...


class JobAudio(AudioStore, Participant, Protocol):
    """An audio store that takes part in its jobs' transitions: what `JobStore` keeps its audio in."""


def pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Join `chunks` into pieces of at most `size` bytes, as full as whole chunks make them (a chunk
    larger than `size` is cut). Holds one piece; each byte is copied once."""
    held: list[bytes] = []
    length = 0
    for chunk in chunks:
        while len(chunk) > size:
            chunk, rest = chunk[:size], chunk[size:]
            if held:
                yield b"".join(held)
                held, length = [], 0
            yield chunk
            chunk = rest
        if length + len(chunk) > size:
            yield b"".join(held)
            held, length = [], 0
        if chunk:
            held.append(chunk)
            length += len(chunk)
    if held:
        yield b"".join(held)


class RedisAudioStore(Participant):
    """Audio as a Redis list of pieces: the job store's transactions delete it with the job."""

    def __init__(self, client: redis.Redis, piece_bytes: int = 4 * MB, pending_seconds: int = 3600) -> None:
        self.redis = client
        self.piece_bytes = piece_bytes
        self.pending_seconds = pending_seconds

    @classmethod
    def from_settings(cls, settings: StorageSettings, client: redis.Redis) -> RedisAudioStore:
        return cls(client, int(settings.tuning.piece_mb * MB), settings.pending_seconds)

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        key = keys.audio_key(job_id)
        total, first = 0, True
        try:
            for piece in pieces(chunks, self.piece_bytes):
                # Until the job record exists (its create gives the audio the retention TTL), the pieces
                # expire by themselves: an API that dies mid-upload leaves nothing for long.
                pipe = self.redis.pipeline(transaction=False)
                if first:
                    pipe.delete(key)  # a put replaces, as an object store's does (a retried put)
                pipe.rpush(key, piece)
                pipe.expire(key, self.pending_seconds)
                pipe.execute()
                total, first = total + len(piece), False
        except BaseException:
            self._delete_quietly(key)
            raise
        return total

    def get(self, job_id: str) -> bytes | None:
        return read_pieces(self.redis, keys.audio_key(job_id))

    def copy_to(self, job_id: str, out: BinaryIO) -> bool:
        key = keys.audio_key(job_id)
        if self.redis.type(key) == b"string":
            whole = as_bytes(self.redis.get(key))
            out.write(whole or b"")
            return whole is not None
        count = as_int(self.redis.llen(key))
        for index in range(count):
            part = as_bytes(self.redis.lindex(key, index))
            if part is None:
                return False  # erased or expired while being read
            out.write(part)
        return count > 0

    def delete(self, job_id: str) -> None:
        self.redis.delete(keys.audio_key(job_id))

    def sweep(self, keep: Callable[[str], bool]) -> int:
        return 0  # every piece carries a TTL, and the job's transactions delete them

    def on_create(self, pipe: Pipeline, created: Created) -> None:
        pipe.expire(keys.audio_key(created.job_id), created.ttl)  # it lives as long as its job

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        if ended.keep_audio_seconds > 0:  # verification mode: kept for a reviewer, then it expires
            pipe.expire(keys.audio_key(ended.job_id), ended.keep_audio_seconds)
        else:
            pipe.delete(keys.audio_key(ended.job_id))

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        pipe.delete(keys.audio_key(erased.job_id))

    def _delete_quietly(self, key: str) -> None:
        try:
            self.redis.delete(key)
        except redis.RedisError:
            pass  # the pending TTL removes the pieces


def read_pieces(client: redis.Redis, key: str) -> bytes | None:
    """A Redis-stored audio: one piece per request, so no reply is larger than a piece."""
    if client.type(key) == b"string":
        return as_bytes(client.get(key))  # stored whole by an earlier version
    parts: list[bytes] = []
    for index in range(as_int(client.llen(key))):
        part = as_bytes(client.lindex(key, index))
        if part is None:
            return None  # erased while being read
        parts.append(part)
    return b"".join(parts) if parts else None


def make_audio_store(settings: StorageSettings, client: redis.Redis) -> JobAudio:
    """The store of the backend `settings.url` names (`core.audio_backends`)."""
    from core.audio_backends import checked_backend  # it names this module's class

    return checked_backend(settings.url).load().from_settings(settings, client)
