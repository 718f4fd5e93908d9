"""`POST /v1/audio/transcriptions`, as OpenAI's API answers it, so its clients and the tools built on them
work unchanged; it submits a job like `POST /v1/jobs` and waits for it.

Errors keep EndoScribe's `{"error": {"code", "message"}}`: OpenAI's clients read `error.message` into
the exception's text and `error.code` into its `code`, so nothing more is needed. Answers after the
job was submitted carry `x-should-retry: false`: OpenAI's clients retry 409 and 5xx on their own,
which here would submit the same audio again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import redis
from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.choices import OneOf
from api.deps import JobServiceDep, JobWatcherDep, SettingsDep, TenantDep
from api.errors import TranscriptionTimeout, error_response, error_responses, http_status_of
from api.job_api import JobService
from api.job_watcher import JobState
from api.submissions import JobSubmission, Language, Prompt
from core.errors import Conflict, EndoScribeError, ErrorCode, InvalidInput, NotFound, Unavailable
from core.jobs import JobStatus, Transcript
from core.renderers import RENDERERS

router = APIRouter(prefix="/v1", tags=["openai"])

# A failed job whose audio was the problem is the caller's to fix (400); any other failure is ours (500).
_CALLER_ERRORS = ("audio_", "no_speech", "language_unsupported")


@dataclass(frozen=True)
class OpenAIRenderer:
    """One `response_format`: its media type and its body."""

    name: str
    media_type: str
    render: Callable[[Transcript], bytes]


def _json(body: Any) -> bytes:
    # As Starlette's JSONResponse writes it, so the bytes are what this route always sent.
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


OPENAI_RENDERERS: dict[str, OpenAIRenderer] = {r.name: r for r in (
    OpenAIRenderer("json", "application/json", lambda t: _json({"text": t.text, "usage": _usage(t)})),
    OpenAIRenderer("text", RENDERERS["txt"].media_type, RENDERERS["txt"].render),
    OpenAIRenderer("srt", RENDERERS["srt"].media_type, RENDERERS["srt"].render),
    OpenAIRenderer("vtt", RENDERERS["vtt"].media_type, RENDERERS["vtt"].render),
    OpenAIRenderer("verbose_json", "application/json", lambda t: _json(_verbose(t, _usage(t)))),
)}
"""Every `response_format`, by name (tests add their own entries to this dict)."""


class TranscriptionForm(BaseModel):
    """OpenAI's form fields beside `file`; `language` and `prompt` map onto a `JobSubmission`."""

    model: str = Field(default="whisper-1", max_length=128, description="one of `GET /v1/models`, e.g. whisper-1")
    language: Language = None
    prompt: Prompt = Field(default=None, description="becomes the job's initial_prompt")
    response_format: Annotated[str, OneOf(OPENAI_RENDERERS)] = "json"
    temperature: float = Field(default=0.0, ge=0, le=1, description="accepted and ignored: decoding is fixed")
    stream: bool = False

    def submission(self) -> JobSubmission:
        return JobSubmission(language=self.language, initial_prompt=self.prompt)


@router.get("/models", responses=error_responses(401, 429))
def list_models(settings: SettingsDep, _: TenantDep) -> dict[str, Any]:
    """The model names `/v1/audio/transcriptions` accepts (OpenAI's model list shape)."""
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "endoscribe"}
                                       for name in settings.openai_models]}


@router.post("/audio/transcriptions",
             responses={200: {"content": {m: {} for m in sorted({r.media_type for r in OPENAI_RENDERERS.values()})}},
                        **error_responses(400, 401, 404, 409, 411, 413, 415, 422, 429, 503), 504: {
                            "description": "still running after the wait limit; poll the job it names"}})
async def create_transcription(
    jobs: JobServiceDep,
    watcher: JobWatcherDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    form: Annotated[TranscriptionForm, Form()],
) -> Response:
    """Transcribe a recording and answer with the transcript, waiting for it up to the configured limit."""
    models = jobs.settings.openai_models
    if form.model not in models:
        raise NotFound(f"the model {form.model!r} does not exist here; use one of {', '.join(models)}",
                       code=ErrorCode.MODEL_NOT_FOUND)
    if form.stream:
        raise InvalidInput("streamed transcription is not supported; send stream=false and follow progress on "
                           "GET /v1/jobs/{id}/events if you need it", code=ErrorCode.STREAM_UNSUPPORTED)
    job_id = (await jobs.submit(file, form.submission())).id
    status_url = jobs.urls(job_id)[0]
    headers = {"x-should-retry": "false", "EndoScribe-Job-Id": job_id}
    try:
        try:
            state = await watcher.wait_for_end(job_id, jobs.settings.transcription_wait_seconds)
            transcript = await run_in_threadpool(_transcript, jobs, job_id, state)
        except redis.RedisError:
            raise Unavailable(f"the job store became unreachable while job {job_id} ran; it goes on: follow "
                              f"{status_url} in a moment rather than sending the audio again") from None
    except EndoScribeError as exc:
        if isinstance(exc, TranscriptionTimeout):
            headers["Location"] = status_url
        return error_response(http_status_of(exc), exc.code, exc.message, headers)
    renderer = OPENAI_RENDERERS[form.response_format]
    return Response(renderer.render(transcript), media_type=renderer.media_type, headers=headers)


def _transcript(jobs: JobService, job_id: str, state: JobState | None) -> Transcript:
    waited = jobs.settings.transcription_wait_seconds
    status_url, result_url = jobs.urls(job_id)
    if state is not None and not state.status.is_final:
        raise TranscriptionTimeout(
            f"the transcription is still {state.status.value} after {waited:g} s, the limit here; it goes on as job "
            f"{job_id}: follow {status_url} (or its /events) and fetch {result_url} when it is completed")
    if state is not None and state.status == JobStatus.FAILED and state.error is not None:
        error = state.error
        exc = InvalidInput if error.code.startswith(_CALLER_ERRORS) else EndoScribeError
        raise exc(error.message, code=error.code)
    if state is not None and state.status == JobStatus.CANCELLED:
        raise Conflict(f"job {job_id} was cancelled before it finished", code=ErrorCode.JOB_CANCELLED)
    return jobs.result(job_id)


def _verbose(transcript: Transcript, usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's verbose_json, with the decoder statistics the job kept (a segment decoded before they
    were kept, or a live one, has none: it says nothing rather than invent them)."""
    segments = [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
                 **{k: v for k, v in (("avg_logprob", s.avg_logprob), ("no_speech_prob", s.no_speech_prob))
                    if v is not None}}
                for i, s in enumerate(transcript.segments)]
    body: dict[str, Any] = {"task": "transcribe", "language": transcript.language, "duration": transcript.duration,
                            "text": transcript.text, "segments": segments, "usage": usage}
    words = [{"word": w.word, "start": w.start, "end": w.end}
             for s in transcript.segments for w in s.words or () if w.start is not None and w.end is not None]
    if words:
        body["words"] = words
    return body
