"""`GET /v1/jobs/{id}/events`: a job's status, stage and progress as Server-Sent Events until it ends."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator

from fastapi import APIRouter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api import job_service
from api.deps import JobStoreDep, JobWatcherDep, SettingsDep, TenantDep
from api.errors import error_envelope, error_responses
from core.errors import ErrorCode, TooManyRequests

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# Open streams per key in this process. Counted inside the stream (a stream the client dropped before
# it started never counts), so two streams opened at the same instant may both pass: a cheap bound.
_open_streams: Counter[str] = Counter()

# Comment lines every so often keep proxies and load balancers from closing a quiet stream.
PING_SECONDS = 15


@router.get("/{job_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: job` with `{id, status, stage, progress, error}` now and "
                                            "on each change; the stream ends after a final status"},
                       **error_responses(401, 404, 429)})
async def job_events(
    job_id: str, store: JobStoreDep, watcher: JobWatcherDep, settings: SettingsDep, tenant: TenantDep
) -> EventSourceResponse:
    """Follow a job: its state now and on every change, until it is completed, failed or cancelled."""
    await run_in_threadpool(job_service.get_job, store, job_id, tenant)  # 404 before any stream opens
    limit = settings.max_event_streams_per_key
    if limit and _open_streams[tenant] >= limit:
        raise TooManyRequests(f"this key has {_open_streams[tenant]} event streams open; the limit is {limit} "
                              "per key — close one, or poll GET /v1/jobs/{id}", retry_after=5,
                              code=ErrorCode.TOO_MANY_STREAMS)

    async def events() -> AsyncIterator[ServerSentEvent]:
        _open_streams[tenant] += 1
        try:
            async for state in watcher.changes(job_id):
                if state is None:
                    gone = error_envelope(ErrorCode.NOT_FOUND, f"job {job_id} was erased or has expired")
                    yield ServerSentEvent(json.dumps(gone), event="error")
                    return
                yield ServerSentEvent(json.dumps(state.public(job_id)), event="job")
        finally:
            _open_streams[tenant] -= 1
            if _open_streams[tenant] <= 0:
                del _open_streams[tenant]

    return EventSourceResponse(events(), ping=PING_SECONDS, headers={"Cache-Control": "no-store"})
