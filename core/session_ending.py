"""A live session's end: it becomes a normal job through the job aggregate.

Its audio is put where every job's audio goes (the job store's own audio store), then one transaction
creates the job (`JobStore.stage_create`, so every participant of a job's creation takes part), deletes
the session's audio and tells `ended` to every listener; once it commits, the participants are told.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum

from redis.client import Pipeline

from core import keys
from core.audio_store import MB, AudioStore
from core.job_codec import utcnow
from core.job_participants import Transition
from core.job_store import JobStore
from core.jobs import JobRecord
from core.redis_calls import as_bytes, as_int, as_optional_bytes_list, as_texts, transact
from core.session_commands import read_command
from core.session_records import (
    ENDED_KEEP_SECONDS,
    EVENTS_KEPT,
    FIELDS,
    SessionMeta,
    SessionReads,
    SessionState,
    SessionStatus,
    encode_event,
    read_state,
    wav_header,
)

log = logging.getLogger("core.session_store")

READ_BYTES = 4 * MB
"""A session's audio is read for its job a piece at a time, so no Redis reply is larger (Upstash: 10 MB)."""
END_ATTEMPTS = 5


class _Commit(StrEnum):
    DONE = "done"
    ENDED = "ended"
    GONE = "gone"
    CHANGED = "changed"


class SessionEnding(SessionReads):
    """Ending a session as a job (a base of `SessionStore`)."""

    def end_as_job(self, session_id: str, jobs: JobStore, audio: AudioStore | None = None) -> str | None:
        """Make the whole session audio a normal job through the job aggregate: put the audio in the job
        store's own audio store (`jobs.audio`, where every job's audio is), then, in one transaction,
        create the job (record, callback and every participant), delete the session's audio and tell
        `ended`. The job's id; None if the session is gone (and the audio put for it is deleted). Ending
        an ended session again changes nothing.

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
        stored = min(audio_bytes, as_int(self.redis.strlen(audio_key)))
        stored -= stored % 2

        def wav() -> Iterator[bytes]:
            yield wav_header(stored)
            for start in range(0, stored, READ_BYTES):
                yield as_bytes(self.redis.getrange(audio_key, start, min(start + READ_BYTES, stored) - 1)) or b""

        return audio.put(job_id, wav())

    def _commit_job(self, session_id: str, meta: SessionMeta, put: SessionState, size: int,
                    jobs: JobStore) -> _Commit:
        session_key, audio_key = keys.session_key(session_id), keys.session_audio_key(session_id)

        def body(pipe: Pipeline) -> _Commit:
            state = read_state(pipe, session_id, as_optional_bytes_list(pipe.hmget(session_key, FIELDS)))
            if state is None:
                return _Commit.GONE
            if state.status == SessionStatus.ENDED:
                return _Commit.ENDED
            if state.audio_bytes != put.audio_bytes:
                return _Commit.CHANGED  # an open session took a chunk after its audio was put: put again
            commands = as_texts(pipe.lrange(keys.session_commands_key(session_id), 0, -1))
            options = meta.options if not commands else meta.options.model_copy(
                update={"client_commands": [read_command(c) for c in commands]})
            record = JobRecord(id=meta.job_id, tenant=meta.tenant, options=options, upload_bytes=size,
                               audio_format="wav", created_at=utcnow())
            base = meta.base_url.rstrip("/")
            callback = meta.callback
            if callback is not None:
                callback = callback.model_copy(update={"status_url": f"{base}/v1/jobs/{meta.job_id}",
                                                       "result_url": f"{base}/v1/jobs/{meta.job_id}/result"})
            pipe.multi()
            jobs.stage_create(pipe, record, callback)
            pipe.hset(session_key, "status", SessionStatus.ENDED.value)
            pipe.delete(audio_key, keys.session_lease_key(session_id), keys.session_meta_key(session_id),
                        keys.session_commands_key(session_id))
            pipe.zrem(keys.LIVE_SESSIONS, session_id)
            pipe.zrem(keys.ENDING_SESSIONS, session_id)
            pipe.zrem(keys.tenant_sessions_key(meta.tenant), session_id)
            pipe.xadd(keys.session_events_key(session_id), {"e": encode_event({
                "type": "ended", "job_id": meta.job_id, "result_url": f"{base}/v1/jobs/{meta.job_id}/result",
                "reason": state.reason or "end"})}, maxlen=EVENTS_KEPT, approximate=True)
            # The record and events stay a little, for a client that reconnects to read `ended`; the
            # transcript itself lives on in the job, under the job's retention.
            pipe.expire(session_key, ENDED_KEEP_SECONDS)
            pipe.expire(keys.session_events_key(session_id), ENDED_KEEP_SECONDS)
            return _Commit.DONE

        return transact(self.redis, body, session_key)


def _delete_quietly(audio: AudioStore, job_id: str) -> None:
    try:
        audio.delete(job_id)
    except Exception as exc:  # noqa: BLE001 - no job names it: the audio sweep (or its pending TTL) removes it
        log.warning("could not delete the audio put for a session that is gone (%s)", exc.__class__.__name__)
