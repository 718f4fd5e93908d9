"""`/v1/jobs`: submit audio, poll status, fetch the transcript, cancel or erase."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api import job_service, urls
from api.callbacks import build_callback
from api.deps import (
    AudioStoreDep,
    CeleryDep,
    JobStoreDep,
    OwnerDep,
    QuotasDep,
    RedisDep,
    SettingsDep,
    WebhookStoreDep,
)
from api.uploads import store_upload
from core.jobs import ERROR_DESCRIPTIONS, ErrorBody, JobCreated, JobOptions, JobPublic, JobRecord, JobStatus
from core.renderers import MEDIA_TYPES, ResultFormat, render
from core.settings import Settings
from core.vocabulary import check_note_type, parse_vocabulary
from core.vocabulary_store import VocabularyStore
from core.webhook_store import WebhookStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _base_url(request: Request, settings: Settings) -> str:
    return urls.base_url(request, settings)


def _public(request: Request, settings: Settings, record: JobRecord, webhooks: WebhookStore) -> JobPublic:
    result_url = job_service.job_urls(_base_url(request, settings), record.id)[1]
    return JobPublic.from_record(record, result_url=result_url, webhook=job_service.webhook_view(webhooks, record.id))


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}


@router.post("", status_code=202, response_model=JobCreated,
             responses=_errors(400, 401, 411, 413, 415, 422, 429, 503))
async def create_job(
    request: Request,
    settings: SettingsDep,
    store: JobStoreDep,
    webhooks: WebhookStoreDep,
    celery: CeleryDep,
    audio: AudioStoreDep,
    quotas: QuotasDep,
    owner: OwnerDep,
    redis: RedisDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    language: Annotated[str | None, Form(max_length=16)] = None,
    initial_prompt: Annotated[str | None, Form(max_length=2000)] = None,
    hotwords: Annotated[str | None, Form(max_length=2000)] = None,
    priority: Annotated[Literal["normal", "high"], Form()] = "normal",
    callback_url: Annotated[str | None, Form(max_length=2000, description="POSTed to when the job ends")] = None,
    callback_format: Annotated[Literal["thin", "full", "fhir"], Form()] = "thin",
    callback_auth_header_name: Annotated[str | None, Form(max_length=64)] = None,
    callback_auth_header_value: Annotated[str | None, Form(max_length=4096)] = None,
    note_type: Annotated[str | None, Form(description="colonoscopy, egd, endoscopy, ercp, eus, sigmoidoscopy or "
                                                      "procedure: the built-in vocabulary, dictation formatting "
                                                      "and the FHIR document type")] = None,
    formatting: Annotated[Literal["none", "dictation"] | None, Form(
        description="dictation: spoken punctuation and numbers with units written out (default with a note_type)")
    ] = None,
    vocabulary: Annotated[str | None, Form(max_length=50_000, description='JSON list of phrases: "term" or '
                                           '{"phrase", "sounds_like": [...], "display_as"}')] = None,
    vocabulary_id: Annotated[str | None, Form(max_length=64, description="a stored vocabulary of this key "
                                              "(POST /v1/vocabularies), merged with `vocabulary`")] = None,
    patient_reference: Annotated[str | None, Form(max_length=128)] = None,
    encounter_reference: Annotated[str | None, Form(max_length=128)] = None,
) -> JobCreated:
    """Accept a recording for transcription; poll `status_url` (or get a callback), then fetch `result_url`."""
    limits = settings.worker.vocabulary
    phrases = parse_vocabulary(vocabulary, limits.max_phrases)
    if vocabulary_id:
        stored = VocabularyStore.for_settings(redis, settings)
        phrases = [*(phrases or []), *stored.phrases_for_job(owner, vocabulary_id)]
    options = JobOptions(language=language or None, initial_prompt=initial_prompt or None, hotwords=hotwords or None,
                         note_type=check_note_type(note_type or None), formatting=formatting, vocabulary=phrases,
                         priority=priority)
    callback = None
    if callback_url:
        # Resolving the callback host and storing the audio block: keep them off the event loop.
        callback = await run_in_threadpool(
            build_callback, settings.webhook, callback_url, callback_format, callback_auth_header_name,
            callback_auth_header_value, note_type, patient_reference, encounter_reference, owner,
        )
    job_id = job_service.new_job_id()
    # Copied a chunk at a time from the spooled upload to the store, off the event loop.
    upload = await run_in_threadpool(store_upload, file, settings.max_upload_bytes, audio, job_id)
    base = _base_url(request, settings)
    record = await run_in_threadpool(
        job_service.submit_job, store, audio, celery, quotas, owner, upload, job_id, options, base, callback
    )
    status_url, result_url = job_service.job_urls(base, record.id)
    return JobCreated(id=record.id, status=record.status, status_url=status_url, result_url=result_url)


class JobPage(BaseModel):
    """A page of the caller's jobs, newest first (`webhook` is left out: read one job for it)."""

    jobs: list[JobPublic]
    next_cursor: str | None
    """Pass as `cursor` for the next (older) page; null when there is none."""


@router.get("", response_model=JobPage, responses=_errors(400, 401, 429))
def list_jobs(
    request: Request, settings: SettingsDep, store: JobStoreDep, owner: OwnerDep,
    status: Annotated[list[JobStatus] | None, Query(description="only these statuses (repeatable)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> JobPage:
    """Your own jobs, newest first. With a status filter a page may be short: follow `next_cursor` until null."""
    page = job_service.list_jobs(store, owner, limit, cursor, frozenset(status) if status else None)
    base = _base_url(request, settings)
    jobs = [JobPublic.from_record(r, result_url=job_service.job_urls(base, r.id)[1]) for r in page.jobs]
    return JobPage(jobs=jobs, next_cursor=page.next_cursor)


@router.get("/{job_id}", response_model=JobPublic, responses=_errors(401, 404, 429))
def read_job(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    owner: OwnerDep,
) -> JobPublic:
    """Status, stage, progress, timings and callback attempts of a job."""
    return _public(request, settings, job_service.get_job(store, job_id, owner), webhooks)


@router.get("/{job_id}/result",
            responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()}}, **_errors(401, 404, 409, 429)})
def read_result(
    job_id: str, store: JobStoreDep, owner: OwnerDep, format: Annotated[ResultFormat, Query()] = "json"
) -> Response:
    """The transcript as json, txt, srt or vtt; 409 until the job is completed."""
    transcript = job_service.get_result(store, job_id, owner)
    body = render(transcript, format)
    if format == "json":
        return Response(body, media_type=MEDIA_TYPES["json"])
    return PlainTextResponse(body, media_type=MEDIA_TYPES[format])


@router.delete("/{job_id}", status_code=202, response_model=JobPublic,
               responses={204: {"description": "the finished job was erased"}, **_errors(401, 404, 429)})
def delete_job(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    audio: AudioStoreDep, owner: OwnerDep,
) -> Response:
    """Cancel a queued or running job (202), or erase a finished one with its audio and transcript (204)."""
    record = job_service.cancel_or_erase(store, audio, job_id, owner)
    if record is None:
        return Response(status_code=204)
    return JSONResponse(_public(request, settings, record, webhooks).model_dump(mode="json"), status_code=202)


@router.post("/{job_id}/webhook/redeliver", status_code=202, response_model=JobPublic,
             responses=_errors(401, 404, 409, 429))
def redeliver_webhook(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    quotas: QuotasDep, owner: OwnerDep,
) -> JobPublic:
    """Send an ended job's callback again (new attempt series, same `webhook-id`); 429 if asked too often."""
    job_service.redeliver_webhook(store, webhooks, quotas, job_id, owner)
    return _public(request, settings, job_service.get_job(store, job_id, owner), webhooks)
