"""`/v1/jobs`: submit audio, poll status, fetch the transcript, cancel or erase."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import job_service, submissions
from api.choices import OneOf
from api.deps import (
    AudioStoreDep,
    CeleryDep,
    JobStoreDep,
    QuotasDep,
    SettingsDep,
    TenantDep,
    VocabulariesDep,
    WebhookStoreDep,
)
from api.errors import error_responses
from api.schemas import JobCreated, JobPage, JobPublic
from api.submissions import JobSubmission
from api.uploads import store_upload
from api.urls import base_url, job_urls
from core.jobs import JobRecord, JobStatus
from core.renderers import RENDERERS
from core.settings import Settings
from core.webhook_store import WebhookStore

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
ResultFormat = Annotated[str, OneOf(RENDERERS)]


def _public(request: Request, settings: Settings, record: JobRecord, webhooks: WebhookStore) -> JobPublic:
    result_url = job_urls(base_url(request, settings), record.id)[1]
    return JobPublic.from_record(record, result_url=result_url, webhook=job_service.webhook_view(webhooks, record.id))


@router.post("", status_code=202, response_model=JobCreated,
             responses=error_responses(400, 401, 411, 413, 415, 422, 429, 503))
async def create_job(
    request: Request,
    settings: SettingsDep,
    store: JobStoreDep,
    celery: CeleryDep,
    audio: AudioStoreDep,
    quotas: QuotasDep,
    tenant: TenantDep,
    vocabularies: VocabulariesDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    submission: Annotated[JobSubmission, Form()],
) -> JobCreated:
    """Accept a recording for transcription; poll `status_url` (or get a callback), then fetch `result_url`."""
    # Reading a stored vocabulary, resolving the callback host and storing the audio block: off the event loop.
    accepted = await run_in_threadpool(
        submissions.accept, submission, settings, vocabularies, tenant)
    job_id = job_service.new_job_id()
    # Copied a chunk at a time from the spooled upload to the store, off the event loop.
    upload = await run_in_threadpool(store_upload, file, settings.max_upload_bytes, audio, job_id)
    base = base_url(request, settings)
    record = await run_in_threadpool(
        job_service.submit_job, store, audio, celery, quotas, tenant, upload, job_id, accepted.options, base,
        accepted.callback,
    )
    status_url, result_url = job_urls(base, record.id)
    return JobCreated(id=record.id, status=record.status, status_url=status_url, result_url=result_url)


@router.get("", response_model=JobPage, responses=error_responses(400, 401, 429))
def list_jobs(
    request: Request, settings: SettingsDep, store: JobStoreDep, tenant: TenantDep,
    status: Annotated[list[JobStatus] | None, Query(description="only these statuses (repeatable)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> JobPage:
    """Your own jobs, newest first. With a status filter a page may be short: follow `next_cursor` until null."""
    page = job_service.list_jobs(store, tenant, limit, cursor, frozenset(status) if status else None)
    base = base_url(request, settings)
    jobs = [JobPublic.from_record(r, result_url=job_urls(base, r.id)[1]) for r in page.jobs]
    return JobPage(jobs=jobs, next_cursor=page.next_cursor)


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(401, 404, 429))
def read_job(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    tenant: TenantDep,
) -> JobPublic:
    """Status, stage, progress, timings and callback attempts of a job."""
    return _public(request, settings, job_service.get_job(store, job_id, tenant), webhooks)


@router.get("/{job_id}/result",
            responses={200: {"content": {r.media_type: {} for r in RENDERERS.values()}},
                       **error_responses(401, 404, 409, 429)})
def read_result(
    job_id: str, store: JobStoreDep, tenant: TenantDep, format: Annotated[ResultFormat, Query()] = "json"
) -> Response:
    """The transcript as json, txt, srt or vtt; 409 until the job is completed."""
    renderer = RENDERERS[format]
    return Response(renderer.render(job_service.get_result(store, job_id, tenant)), media_type=renderer.media_type)


@router.delete("/{job_id}", status_code=202, response_model=JobPublic,
               responses={204: {"description": "the finished job was erased"}, **error_responses(401, 404, 429)})
def delete_job(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    audio: AudioStoreDep, tenant: TenantDep,
) -> Response:
    """Cancel a queued or running job (202), or erase a finished one with its audio and transcript (204)."""
    record = job_service.cancel_or_erase(store, audio, job_id, tenant)
    if record is None:
        return Response(status_code=204)
    return JSONResponse(_public(request, settings, record, webhooks).model_dump(mode="json"), status_code=202)


@router.post("/{job_id}/webhook/redeliver", status_code=202, response_model=JobPublic,
             responses=error_responses(401, 404, 409, 429))
def redeliver_webhook(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, webhooks: WebhookStoreDep,
    quotas: QuotasDep, tenant: TenantDep,
) -> JobPublic:
    """Send an ended job's callback again (new attempt series, same `webhook-id`); 429 if asked too often."""
    job_service.redeliver_webhook(store, webhooks, quotas, job_id, tenant)
    return _public(request, settings, job_service.get_job(store, job_id, tenant), webhooks)
