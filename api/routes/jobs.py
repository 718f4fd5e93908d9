"""`/v1/jobs`: submit audio, poll status, fetch the transcript, cancel or erase."""

from __future__ import annotations

from typing import Annotated, Union

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from api.choices import OneOf
from api.deps import JobServiceDep
from api.errors import error_responses
from api.schemas import JobCreated, JobPage, JobPublic
from api.submissions import JobSubmission
from core.jobs import JobStatus
from core.renderers import RENDERERS

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
ResultFormat = Annotated[str, OneOf(RENDERERS)]
# A format with a JSON model (findings) publishes it in the OpenAPI components, so clients can generate types.
RESULT_MODELS = tuple(r.schema for r in RENDERERS.values() if r.schema is not None)


@router.post("", status_code=202, response_model=JobCreated,
             responses=error_responses(400, 401, 411, 413, 415, 422, 429, 503))
async def create_job(
    jobs: JobServiceDep,
    file: Annotated[UploadFile, File(description="The recording: wav, flac, mp3, m4a/aac, ogg/opus or webm")],
    submission: Annotated[JobSubmission, Form()],
) -> JobCreated:
    """Accept a recording for transcription; poll `status_url` (or get a callback), then fetch `result_url`."""
    record = await jobs.submit(file, submission)
    status_url, result_url = jobs.urls(record.id)
    return JobCreated(id=record.id, status=record.status, status_url=status_url, result_url=result_url)


@router.get("", response_model=JobPage, responses=error_responses(400, 401, 429))
def list_jobs(
    jobs: JobServiceDep,
    status: Annotated[list[JobStatus] | None, Query(description="only these statuses (repeatable)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> JobPage:
    """Your own jobs, newest first. With a status filter a page may be short: follow `next_cursor` until null."""
    return jobs.page(limit, cursor, frozenset(status) if status else None)


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(401, 404, 429))
def read_job(job_id: str, jobs: JobServiceDep) -> JobPublic:
    """Status, stage, progress, timings and callback attempts of a job."""
    return jobs.public(jobs.get(job_id))


@router.get("/{job_id}/result",
            responses={200: {"content": {r.media_type: {} for r in RENDERERS.values()},
                             "model": Union[RESULT_MODELS],  # noqa: UP007 - a runtime tuple of models
                             "description": "the result: `Transcript` (json) or `FindingsResult` (findings)"},
                       **error_responses(401, 404, 409, 429)})
def read_result(job_id: str, jobs: JobServiceDep, format: Annotated[ResultFormat, Query()] = "json") -> Response:
    """The transcript as json, txt, srt or vtt, or its structured findings (`findings`, JSON); 409 until
    the job is completed, and for `findings` when its note type has no findings model."""
    renderer = RENDERERS[format]
    return Response(renderer.render(jobs.result(job_id)), media_type=renderer.media_type)


@router.delete("/{job_id}", status_code=202, response_model=JobPublic,
               responses={204: {"description": "the finished job was erased"}, **error_responses(401, 404, 429)})
def delete_job(job_id: str, jobs: JobServiceDep) -> Response:
    """Cancel a queued or running job (202), or erase a finished one with its audio and transcript (204)."""
    record = jobs.cancel_or_erase(job_id)
    if record is None:
        return Response(status_code=204)
    return JSONResponse(jobs.public(record).model_dump(mode="json"), status_code=202)


@router.post("/{job_id}/webhook/redeliver", status_code=202, response_model=JobPublic,
             responses=error_responses(401, 404, 409, 429))
def redeliver_webhook(job_id: str, jobs: JobServiceDep) -> JobPublic:
    """Send an ended job's callback again (new attempt series, same `webhook-id`); 429 if asked too often."""
    return jobs.public(jobs.redeliver(job_id))
