"""`/v1/jobs`: submit audio, poll status, fetch the transcript, cancel or erase."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from api import job_service
from api.deps import CeleryDep, JobStoreDep, OwnerDep, SettingsDep
from api.uploads import read_upload
from core.jobs import JobCreated, JobOptions, JobPublic, JobRecord
from core.renderers import MEDIA_TYPES, ResultFormat, render
from core.settings import Settings

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _urls(request: Request, settings: Settings, job_id: str) -> tuple[str, str]:
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/v1/jobs/{job_id}", f"{base}/v1/jobs/{job_id}/result"


def _public(request: Request, settings: Settings, record: JobRecord) -> JobPublic:
    return JobPublic.from_record(record, result_url=_urls(request, settings, record.id)[1])


@router.post("", status_code=202, response_model=JobCreated)
async def create_job(
    request: Request,
    settings: SettingsDep,
    store: JobStoreDep,
    celery: CeleryDep,
    owner: OwnerDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    language: Annotated[str | None, Form(max_length=16)] = None,
    initial_prompt: Annotated[str | None, Form(max_length=2000)] = None,
    hotwords: Annotated[str | None, Form(max_length=2000)] = None,
) -> JobCreated:
    """Accept a recording for transcription; poll `status_url`, then fetch `result_url`."""
    audio = await read_upload(file, settings.max_upload_bytes)
    options = JobOptions(language=language or None, initial_prompt=initial_prompt or None, hotwords=hotwords or None)
    record = job_service.submit_job(store, celery, owner, audio, options)
    status_url, result_url = _urls(request, settings, record.id)
    return JobCreated(id=record.id, status=record.status, status_url=status_url, result_url=result_url)


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, owner: OwnerDep) -> JobPublic:
    """Status, stage, progress and timings of a job."""
    return _public(request, settings, job_service.get_job(store, job_id, owner))


@router.get("/{job_id}/result", responses={200: {"content": {m: {} for m in MEDIA_TYPES.values()}}})
def read_result(
    job_id: str, store: JobStoreDep, owner: OwnerDep, format: Annotated[ResultFormat, Query()] = "json"
) -> Response:
    """The transcript as json, txt, srt or vtt; 409 until the job is completed."""
    transcript = job_service.get_result(store, job_id, owner)
    body = render(transcript, format)
    if format == "json":
        return Response(body, media_type=MEDIA_TYPES["json"])
    return PlainTextResponse(body, media_type=MEDIA_TYPES[format])


@router.delete("/{job_id}", responses={204: {"description": "finished job erased"}}, response_model=JobPublic)
def delete_job(
    job_id: str, request: Request, settings: SettingsDep, store: JobStoreDep, owner: OwnerDep
) -> Response:
    """Cancel a queued or running job (202), or erase a finished one with its audio and transcript (204)."""
    record = job_service.cancel_or_erase(store, job_id, owner)
    if record is None:
        return Response(status_code=204)
    return JSONResponse(_public(request, settings, record).model_dump(mode="json"), status_code=202)
