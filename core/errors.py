"""The short error tree, mapped once at each edge (HTTP response in the API, failed job in the worker)."""

from __future__ import annotations

import math


class EndoScribeError(Exception):
    """Base error: a stable machine `code`, a message that says what to do, and an HTTP status."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InvalidInput(EndoScribeError):
    code = "invalid_input"
    http_status = 400


class Unauthorized(EndoScribeError):
    code = "unauthorized"
    http_status = 401


class NotFound(EndoScribeError):
    code = "not_found"
    http_status = 404


class Conflict(EndoScribeError):
    code = "conflict"
    http_status = 409


class PayloadTooLarge(EndoScribeError):
    code = "file_too_large"
    http_status = 413


class UnsupportedMedia(EndoScribeError):
    code = "unsupported_media_type"
    http_status = 415


class Unavailable(EndoScribeError):
    code = "unavailable"
    http_status = 503


class RetryLater(EndoScribeError):
    """A refusal that passes with time; the edge tells the client when to try again (`Retry-After`)."""

    def __init__(self, message: str, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = max(1, math.ceil(retry_after))


class TooManyRequests(RetryLater):
    """One API key (or one job) is over a quota."""

    code = "rate_limited"
    http_status = 429


class Overloaded(RetryLater):
    """The whole system is over a capacity threshold: nobody's submission is taken now."""

    code = "overloaded"
    http_status = 503


class StorageUnavailable(RetryLater):
    """The object store holding the audio does not answer (refused, timed out, 5xx): the same request
    succeeds once it is back, so a worker puts its job back in the queue instead of failing it."""

    code = "storage_unavailable"
    http_status = 503


class AudioError(EndoScribeError):
    """The audio could not be transcribed (undecodable, empty, silent, too long): the job fails."""

    code = "audio_invalid"
    http_status = 422


class JobCancelled(EndoScribeError):
    """Raised inside the pipeline when the job's owner cancelled it."""

    code = "cancelled"
    http_status = 409
