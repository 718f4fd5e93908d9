"""The short error tree and its catalogue of codes, mapped once at each edge (an HTTP response in the
API, see `api.errors`; a failed job in the worker). Nothing here knows HTTP."""

from __future__ import annotations

import math
from enum import StrEnum


class ErrorCode(StrEnum):
    """Every machine `code` an error or a failed job carries, each with its one-line meaning.

    Clients match on these strings: a member's value never changes once released."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    @classmethod
    def of(cls, value: str) -> ErrorCode:
        """The member spelled `value` (a ValueError if there is none): for codes made from a state."""
        member = cls._value2member_map_.get(value)
        if not isinstance(member, cls):
            raise ValueError(f"{value!r} is not an ErrorCode")
        return member

    # The tree's own codes (a subclass's default).
    INTERNAL_ERROR = "internal_error", "the server failed unexpectedly; retry, or tell the operator"
    INVALID_INPUT = "invalid_input", "the request is malformed"
    UNAUTHORIZED = "unauthorized", "no valid API key was sent"
    FORBIDDEN = "forbidden", "the key may not do this (the organisation's templates take an admin key)"
    NOT_FOUND = "not_found", "no such job or resource (or not yours)"
    CONFLICT = "conflict", "the resource is not in a state that allows this"
    FILE_TOO_LARGE = "file_too_large", "the upload is over the size limit"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "the upload is not a recognised audio format"
    UNAVAILABLE = "unavailable", "the service or its store is unreachable now; retry in a moment"
    RATE_LIMITED = "rate_limited", "over a quota; retry after the time given"
    OVERLOADED = "overloaded", "the service is over capacity; retry after the time given"
    STORAGE_UNAVAILABLE = "storage_unavailable", "the audio object store does not answer; retry later"
    AUDIO_INVALID = "audio_invalid", "the audio could not be transcribed"
    CANCELLED = "cancelled", "the job was cancelled by its tenant while it ran"
    # Requests.
    VALIDATION_ERROR = "validation_error", "a field is missing or out of its limits"
    EMPTY_FILE = "empty_file", "the uploaded file is empty"
    BODY_TOO_LARGE = "body_too_large", "the request body is over its route's limit"
    LENGTH_REQUIRED = "length_required", "the request has no Content-Length"
    INVALID_HOST = "invalid_host", "the Host header names a host this API does not answer to"
    INVALID_CURSOR = "invalid_cursor", "the page cursor is not one this API gave out"
    METRICS_DISABLED = "metrics_disabled", "the metrics endpoint is switched off"
    NOT_READY = "not_ready", "the service is starting or cannot reach its store"
    # Submissions: callbacks, note types, vocabularies.
    INVALID_CALLBACK = "invalid_callback", "a callback field is unusable (or callbacks are off)"
    CALLBACK_URL_REFUSED = "callback_url_refused", "the callback_url is not a public address this API may call"
    CALLBACK_LOOKUPS_BUSY = "callback_lookups_busy", "the key's callback host lookups are all still pending"
    INVALID_NOTE_TYPE = "invalid_note_type", "the note_type is not a known one"
    INVALID_VOCABULARY = "invalid_vocabulary", "the vocabulary is malformed or over its limits"
    TOO_MANY_VOCABULARIES = "too_many_vocabularies", "the key stores as many vocabularies as it may"
    UNKNOWN_VOCABULARY = "unknown_vocabulary", "no stored vocabulary with that id (or not yours)"
    INVALID_TEMPLATE = "invalid_template", "the dictation template is malformed or over its limits"
    TOO_MANY_TEMPLATES = "too_many_templates", "the key stores as many dictation templates as it may"
    # Quotas and capacity.
    REQUEST_RATE_EXCEEDED = "request_rate_exceeded", "over the key's request rate"
    REDELIVER_RATE_EXCEEDED = "redeliver_rate_exceeded", "the job's callback was redelivered too recently"
    QUEUE_FULL = "queue_full", "the queue is over its depth limit"
    DAILY_AUDIO_EXCEEDED = "daily_audio_exceeded", "the key has used its audio hours for the day"
    TOO_MANY_JOBS_IN_FLIGHT = "too_many_jobs_in_flight", "the key has as many unfinished jobs as it may"
    TOO_MANY_SESSIONS = "too_many_sessions", "the key has as many open live sessions as it may"
    TOO_MANY_STREAMS = "too_many_streams", "the key has as many session or event streams open as it may"
    STORAGE_FULL = "storage_full", "Redis is near its memory ceiling; retry after the time given"
    # A job's state.
    JOB_QUEUED = "job_queued", "the job has not started yet"
    JOB_PROCESSING = "job_processing", "the job is still running"
    JOB_COMPLETED = "job_completed", "the job has completed, and its callback is not in a state to send again"
    JOB_FAILED = "job_failed", "the job failed, so it has no transcript"
    JOB_CANCELLED = "job_cancelled", "the job was cancelled, so it has no transcript"
    RESULT_GONE = "result_gone", "the transcript has expired or was erased"
    FINDINGS_UNAVAILABLE = "findings_unavailable", "the job has no findings (its note type has no findings model)"
    NO_WEBHOOK = "no_webhook", "the job has no callback_url"
    # A job's audio, kept for a reviewer (verification mode).
    KEEP_AUDIO_REFUSED = "keep_audio_refused", "keep_audio_seconds is over the deployment's limit (or it keeps none)"
    AUDIO_NOT_KEPT = "audio_not_kept", "the job kept no audio (no keep_audio_seconds): it was deleted at the end"
    AUDIO_EXPIRED = "audio_expired", "the job's verification window is over, or its audio was erased"
    # A job's note document.
    STALE_VERSION = "stale_version", "the note has a newer version than the one the change was based on"
    DOCUMENT_SIGNED = "document_signed", "the note is signed: it is amended (a new version), not corrected or signed"
    DOCUMENT_TOO_MANY_VERSIONS = "document_too_many_versions", "the note has as many versions as it may"
    # Why a job failed.
    AUDIO_EMPTY = "audio_empty", "the audio holds no samples"
    AUDIO_UNDECODABLE = "audio_undecodable", "the audio could not be decoded"
    AUDIO_SILENT = "audio_silent", "the audio is silent"
    AUDIO_TOO_LONG = "audio_too_long", "the audio is over the length limit"
    AUDIO_MISSING = "audio_missing", "the job's audio is gone (expired or erased)"
    NO_SPEECH = "no_speech", "no speech was found in the audio"
    LANGUAGE_UNSUPPORTED = "language_unsupported", "the model does not transcribe the requested language"
    JOB_TIMEOUT = "job_timeout", "the job ran far past its time limit and was stopped"
    TRANSCRIPTION_FAILED = "transcription_failed", "the transcription failed inside the worker"
    WORKER_CRASHED = "worker_crashed", "the job's worker died too many times while running it"
    GPU_OUT_OF_MEMORY = "gpu_out_of_memory", "the GPU ran out of memory even for the smallest batch"
    # The OpenAI-compatible route.
    MODEL_NOT_FOUND = "model_not_found", "the model name is not one of GET /v1/models"
    STREAM_UNSUPPORTED = "stream_unsupported", "streamed transcription is not offered"
    TRANSCRIPTION_TIMEOUT = "transcription_timeout", "the job is still running after the wait limit"
    # Live sessions.
    INVALID_TOKEN = "invalid_token", "the session token is missing, malformed, expired or for another session"
    INVALID_AFTER = "invalid_after", "the event id to resume after is malformed"
    SESSION_ENDED = "session_ended", "the session has ended (its tokens with it): its audio is a job"
    SESSION_GONE = "session_gone", "the session expired or was erased"
    SESSION_ENDING = "session_ending", "the session is ending; audio after `end` is not taken"
    SESSION_TOO_LONG = "session_too_long", "the session reached its audio length limit"
    IDLE_TIMEOUT = "idle_timeout", "no audio came for too long; the session ended"
    TOKEN_EXPIRED = "token_expired", "the stream's token expired; reconnect with a fresh one"
    STREAM_REPLACED = "stream_replaced", "a newer connection writes this session's audio"
    CHUNK_TOO_SHORT = "chunk_too_short", "an audio chunk is under the minimum length"
    BAD_CHUNK = "bad_chunk", "an audio chunk is not whole 16-bit samples within the size limit"
    SEQUENCE_GAP = "sequence_gap", "an audio chunk came before the one expected"
    BAD_MESSAGE = "bad_message", "a text message is not a known command"


class EndoScribeError(Exception):
    """Base error: a stable machine `code` (an `ErrorCode`) and a message that says what to do."""

    code: str = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "message": self.message}


class InvalidInput(EndoScribeError):
    code = ErrorCode.INVALID_INPUT


class Unprocessable(InvalidInput):
    """Well-formed, but unusable as given (a refused callback, an unknown vocabulary or note type)."""


class Unauthorized(EndoScribeError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(EndoScribeError):
    code = ErrorCode.FORBIDDEN


class NotFound(EndoScribeError):
    code = ErrorCode.NOT_FOUND


class Conflict(EndoScribeError):
    code = ErrorCode.CONFLICT


class PayloadTooLarge(EndoScribeError):
    code = ErrorCode.FILE_TOO_LARGE


class UnsupportedMedia(EndoScribeError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE


class Unavailable(EndoScribeError):
    code = ErrorCode.UNAVAILABLE


class RetryLater(EndoScribeError):
    """A refusal that passes with time; the edge tells the client when to try again (`Retry-After`)."""

    def __init__(self, message: str, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code)
        self.retry_after = max(1, math.ceil(retry_after))


class TooManyRequests(RetryLater):
    """One API key (or one job) is over a quota."""

    code = ErrorCode.RATE_LIMITED


class Overloaded(RetryLater):
    """The whole system is over a capacity threshold: nobody's submission is taken now."""

    code = ErrorCode.OVERLOADED


class StorageUnavailable(RetryLater):
    """The object store holding the audio does not answer (refused, timed out, 5xx): the same request
    succeeds once it is back, so a worker puts its job back in the queue instead of failing it."""

    code = ErrorCode.STORAGE_UNAVAILABLE


class AudioError(EndoScribeError):
    """The audio could not be transcribed (undecodable, empty, silent, too long): the job fails."""

    code = ErrorCode.AUDIO_INVALID


class JobCancelled(EndoScribeError):
    """Raised inside the pipeline when the job's tenant cancelled it."""

    code = ErrorCode.CANCELLED
