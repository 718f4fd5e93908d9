"""`POST /v1/audio/transcriptions`, as OpenAI's API answers it, so its clients and the tools built on them
work unchanged; it submits a job like `POST /v1/jobs` and waits for it.

Errors keep EndoScribe's `{"error": {"code", "message"}}`: OpenAI's clients read `error.message` into
the exception's text and `error.code` into its `code`, so nothing more is needed. Answers after the
job was submitted carry `x-should-retry: false`: OpenAI's clients retry 409 and 5xx on their own,
which here would submit the same audio again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from api import job_service
from api.deps import (
    AudioStoreDep,
    CeleryDep,
    JobStoreDep,
    JobWatcherDep,
    OwnerDep,
    QuotasDep,
    SettingsDep,
)
from api.job_watcher import JobState
from api.routes.jobs import _errors
from api.uploads import store_upload
from api.urls import base_url
from core.errors import Conflict, EndoScribeError, InvalidInput, NotFound, Unavailable
from core.job_store import JobStore
from core.jobs import JobOptions, JobStatus, Transcript
from core.renderers import MEDIA_TYPES, render

router = APIRouter(prefix="/v1", tags=["openai"])

OpenAIFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]

# A failed job whose audio was the problem is the caller's to fix (400); any other failure is ours (500).
_CALLER_ERRORS = ("audio_", "no_speech", "language_unsupported")


class TranscriptionTimeout(EndoScribeError):
    code = "transcription_timeout"
    http_status = 504


@router.get("/models", responses=_errors(401, 429))
def list_models(settings: SettingsDep, _: OwnerDep) -> dict[str, Any]:
    """The model names `/v1/audio/transcriptions` accepts (OpenAI's model list shape)."""
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "endoscribe"}
                                       for name in settings.openai_models]}


@router.post("/audio/transcriptions",
             responses={200: {"content": {"application/json": {}, "text/plain": {}, "text/vtt": {}}},
                        **_errors(400, 401, 404, 409, 411, 413, 415, 422, 429, 503), 504: {
                            "description": "still running after the wait limit; poll the job it names"}})
async def create_transcription(
    request: Request,
    settings: SettingsDep,
    store: JobStoreDep,
    celery: CeleryDep,
    audio: AudioStoreDep,
    quotas: QuotasDep,
    watcher: JobWatcherDep,
    owner: OwnerDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    model: Annotated[str, Form(max_length=128, description="one of `GET /v1/models`, e.g. whisper-1")] = "whisper-1",
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=2000, description="becomes the job's initial_prompt")] = None,
    response_format: Annotated[OpenAIFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0, le=1, description="accepted and ignored: decoding is fixed")] = 0.0,
    stream: Annotated[bool, Form()] = False,
) -> Response:
    """Transcribe a recording and answer with the transcript, waiting for it up to the configured limit."""
    if model not in settings.openai_models:
        raise NotFound(f"the model {model!r} does not exist here; use one of {', '.join(settings.openai_models)}",
                       code="model_not_found")
    if stream:
        raise InvalidInput("streamed transcription is not supported; send stream=false and follow progress on "
                           "GET /v1/jobs/{id}/events if you need it", code="stream_unsupported")
    job_id = job_service.new_job_id()
    upload = await run_in_threadpool(store_upload, file, settings.max_upload_bytes, audio, job_id)
    options = JobOptions(language=language or None, initial_prompt=prompt or None)
    base = base_url(request, settings)
    await run_in_threadpool(job_service.submit_job, store, audio, celery, quotas, owner, upload, job_id, options, base)
    status_url, result_url = job_service.job_urls(base, job_id)
    headers = {"x-should-retry": "false", "EndoScribe-Job-Id": job_id}
    try:
        try:
            state = await watcher.wait_for_end(job_id, settings.transcription_wait_seconds)
            transcript = await run_in_threadpool(
                _transcript, store, job_id, owner, state, settings.transcription_wait_seconds, status_url, result_url)
        except redis.RedisError:
            raise Unavailable(f"the job store became unreachable while job {job_id} ran; it goes on: follow "
                              f"{status_url} in a moment rather than sending the audio again") from None
    except EndoScribeError as exc:
        if isinstance(exc, TranscriptionTimeout):
            headers["Location"] = status_url
        return JSONResponse({"error": exc.as_dict()}, status_code=exc.http_status, headers=headers)
    return _answer(transcript, response_format, headers)


def _transcript(
    store: JobStore, job_id: str, owner: str, state: JobState | None, waited: float,
    status_url: str, result_url: str,
) -> Transcript:
    if state is not None and not state.status.is_final:
        raise TranscriptionTimeout(
            f"the transcription is still {state.status.value} after {waited:g} s, the limit here; it goes on as job "
            f"{job_id}: follow {status_url} (or its /events) and fetch {result_url} when it is completed")
    if state is not None and state.status == JobStatus.FAILED and state.error is not None:
        error = state.error
        exc = InvalidInput if error.code.startswith(_CALLER_ERRORS) else EndoScribeError
        raise exc(error.message, code=error.code)
    if state is not None and state.status == JobStatus.CANCELLED:
        raise Conflict(f"job {job_id} was cancelled before it finished", code="job_cancelled")
    return job_service.get_result(store, job_id, owner)


def _answer(transcript: Transcript, response_format: OpenAIFormat, headers: dict[str, str]) -> Response:
    usage = {"type": "duration", "seconds": round(transcript.duration, 3)}
    if response_format == "json":
        return JSONResponse({"text": transcript.text, "usage": usage}, headers=headers)
    if response_format == "verbose_json":
        return JSONResponse(_verbose(transcript, usage), headers=headers)
    fmt = "txt" if response_format == "text" else response_format
    return PlainTextResponse(render(transcript, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


def _verbose(transcript: Transcript, usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's verbose_json, without the decoder statistics (log-probabilities, compression ratio) that
    the pipeline does not keep: it says nothing rather than invent them."""
    segments = [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": []}
                for i, s in enumerate(transcript.segments)]
    body: dict[str, Any] = {"task": "transcribe", "language": transcript.language, "duration": transcript.duration,
                            "text": transcript.text, "segments": segments, "usage": usage}
    words = [{"word": w.word, "start": w.start, "end": w.end}
             for s in transcript.segments for w in s.words or () if w.start is not None and w.end is not None]
    if words:
        body["words"] = words
    return body
