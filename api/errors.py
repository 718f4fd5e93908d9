"""Errors at the HTTP edge: each error class's status, the one `{"error": {"code", "message"}}` envelope,
the headers an error carries, and the error responses routes declare in OpenAPI."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import Send

from core.errors import (
    AudioError,
    Conflict,
    EndoScribeError,
    ErrorCode,
    Forbidden,
    InvalidInput,
    JobCancelled,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RetryLater,
    StorageUnavailable,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
    UnsupportedMedia,
)
from core.jobs import JobError


class LengthRequired(EndoScribeError):
    code = ErrorCode.LENGTH_REQUIRED


class SessionEnded(EndoScribeError):
    code = ErrorCode.SESSION_ENDED


class TranscriptionTimeout(EndoScribeError):
    code = ErrorCode.TRANSCRIPTION_TIMEOUT


# The one place an error class meets its HTTP status; a subclass answers as its nearest listed ancestor.
_STATUS: dict[type[EndoScribeError], int] = {
    EndoScribeError: 500,
    InvalidInput: 400,
    Unprocessable: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMedia: 415,
    Unavailable: 503,
    TooManyRequests: 429,
    Overloaded: 503,
    StorageUnavailable: 503,
    AudioError: 422,
    JobCancelled: 409,
    LengthRequired: 411,
    SessionEnded: 410,
    TranscriptionTimeout: 504,
}

ERROR_DESCRIPTIONS = {
    400: "empty file or invalid input",
    401: "missing or invalid API key",
    403: "the key may not do this (an organisation's templates take an admin key)",
    404: "no such job, note or vocabulary (or not yours), or its transcript is gone",
    409: "the job or its note is not in a state that allows this (not finished, failed, cancelled; the note "
         "changed since `base_version`, or is signed)",
    410: "the session has ended (its tokens with it): its audio is a job",
    411: "chunked upload without Content-Length",
    413: "upload over the size limit",
    415: "not a recognised audio format",
    422: "a missing or invalid field, a refused callback_url, or an unusable note_type, vocabulary or vocabulary_id",
    429: "over a per-key quota (request rate, jobs in flight, audio hours per day) or the redelivery rate; "
         "see Retry-After",
    503: "the service is over capacity (queue depth, storage memory) or its store is unreachable; see Retry-After",
}


class ErrorBody(BaseModel):
    """Every error response: `{"error": {"code", "message"}}`."""

    error: JobError


def http_status_of(exc: EndoScribeError) -> int:
    """The HTTP status an error answers with."""
    for cls in type(exc).__mro__:
        if cls in _STATUS:
            return _STATUS[cls]  # type: ignore[index]
    return 500


def error_envelope(code: str, message: str) -> dict[str, Any]:
    """The body of every error response (and of a stream's error event)."""
    return {"error": {"code": str(code), "message": message}}


def error_headers(exc: EndoScribeError) -> dict[str, str]:
    """The HTTP headers an error response carries besides its body."""
    if isinstance(exc, RetryLater):
        return {"Retry-After": str(exc.retry_after)}
    if http_status_of(exc) == 401:
        return {"WWW-Authenticate": "Bearer"}
    return {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_envelope(code, message), status_code=status, headers=headers)


def response_for(exc: EndoScribeError, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error's response, its own headers joined by `headers`."""
    return error_response(http_status_of(exc), exc.code, exc.message, {**(headers or {}), **error_headers(exc)})


async def reply_error(send: Send, exc: EndoScribeError) -> None:
    """Answer with the error envelope from ASGI middleware (before any route)."""
    body = json.dumps(error_envelope(exc.code, exc.message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error_headers(exc).items()]
    await send({"type": "http.response.start", "status": http_status_of(exc), "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's error statuses."""
    return {status: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]} for status in statuses}
