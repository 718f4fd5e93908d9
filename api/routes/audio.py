"""`GET /v1/jobs/{id}/audio`: a job's own audio, for its owner, while the job keeps it (verification mode).

A job submitted with `keep_audio_seconds` (or whose key has a default, `ENDOSCRIBE_AUDIO_STORE_KEEP_AUDIO_
SECONDS_BY_KEY`) keeps its audio that long after it ends, so a reviewer can listen while checking the
note; then the audio store erases it, as it erases every other job's audio at its end. The audio is
copied from the store to a temporary file a piece at a time and served by Starlette's `FileResponse`,
which answers `Range` requests (206 with `Content-Range`, 416 past the end), so a player can seek; the
file is removed once the answer is sent.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from api.deps import JobServiceDep
from api.errors import error_responses
from core.errors import ErrorCode, NotFound
from core.jobs import JobRecord

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "webm": "audio/webm",
               "m4a": "audio/mp4", "mp3": "audio/mpeg", "aac": "audio/aac"}
"""The media type of each container `core.audio_format` recognises."""


class TemporaryFileResponse(FileResponse):
    """A `FileResponse` whose file is removed once it is answered, whatever the answer (a 416 too)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.unlink(self.path)


def kept_until(record: JobRecord) -> datetime | None:
    """When an ended job's audio stops being served; None while the job runs (its audio is still needed)."""
    if not record.status.is_final:
        return None
    ended = record.finished_at or record.created_at
    return ended + timedelta(seconds=record.options.keep_audio_seconds)


def check_kept(record: JobRecord, now: datetime) -> None:
    """Raise 404, with why, when the job's audio is not to be served any more."""
    until = kept_until(record)
    if until is None:
        return
    if record.options.keep_audio_seconds <= 0:
        raise NotFound(f"job {record.id} kept no audio: it was deleted when the job ended (submit with "
                       "keep_audio_seconds to keep it for a reviewer)", code=ErrorCode.AUDIO_NOT_KEPT)
    if now >= until:
        raise NotFound(f"job {record.id}'s audio was kept until {until.isoformat()}; it is erased",
                       code=ErrorCode.AUDIO_EXPIRED)


@router.get("/{job_id}/audio", response_class=FileResponse,
            responses={200: {"content": {t: {} for t in sorted(set(MEDIA_TYPES.values()))},
                             "description": "the job's audio as uploaded (a session's as WAV)"},
                       206: {"description": "the part a `Range` header asked for, with `Content-Range`"},
                       **error_responses(401, 404, 429, 503)})
def read_audio(job_id: str, jobs: JobServiceDep) -> FileResponse:
    """A job's audio while it keeps it: its owner only, with `Range` support. 404 `audio_not_kept` for a
    job that did not ask to keep it, `audio_expired` once its window (`keep_audio_seconds` after its end)
    is over."""
    record = jobs.get(job_id)
    check_kept(record, datetime.now(UTC))
    handle, path = tempfile.mkstemp(prefix="endoscribe-audio-")
    try:
        with os.fdopen(handle, "wb") as out:
            found = jobs.audio.copy_to(job_id, out)
        if not found:
            raise NotFound(f"job {job_id}'s audio is gone (erased or expired)", code=ErrorCode.AUDIO_EXPIRED)
    except BaseException:
        os.unlink(path)
        raise
    ext = record.audio_format or "wav"
    return TemporaryFileResponse(path, media_type=MEDIA_TYPES.get(ext, "application/octet-stream"),
                                 filename=f"{job_id}.{ext}", content_disposition_type="inline")
