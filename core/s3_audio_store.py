"""Audio in S3-compatible object storage (Tigris on Fly, MinIO, AWS S3): one object per job.

An upload goes up as a multipart upload, one part at a time, so a process holds at most one part.
Credentials come the way boto3 finds them (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, which
`fly storage create` sets, a profile, or an instance role).

An outage (the store refuses connections, times out, or answers 5xx or SlowDown once botocore's own
retries are spent) is raised as `StorageUnavailable`, which passes with time: the API answers 503 with
Retry-After and a worker puts the job back in the queue. Other errors (AccessDenied, a missing bucket)
are configuration faults and stay botocore's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO
from urllib.parse import urlparse

import boto3
import redis
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError
from redis.client import Pipeline

from core import keys
from core.audio_store import MB, pieces
from core.errors import StorageUnavailable
from core.job_participants import Ended, Erased, Participant, Transition
from core.settings import StorageSettings

log = logging.getLogger(__name__)

MIN_PART_BYTES = 5 * MB
"""S3's smallest part, but for the last one."""
RETRY_AFTER_SECONDS = 5
"""What a client is told to wait when the store is out."""
CONNECT_TIMEOUT_SECONDS = 5
"""A store that does not accept a connection in this long is out (botocore waits 60 s, five times)."""
TRANSPORT_ERRORS = (BotoConnectionError, HTTPClientError, IncompleteReadError)
"""Refused, timed out, cut mid-request or mid-body: the request never had an answer."""
PASSING_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                           "ThrottlingException", "RequestThrottled"})
"""S3 error codes that mean "not now" rather than "not this" (S3's RequestTimeout is a 400)."""


class S3AudioStore(Participant):
    """One object per job under `prefix`; deleted right after its job's end or erase commits (the job
    store calls `after_commit`), and by `sweep` when that failed."""

    def __init__(self, client: Any, bucket: str, prefix: str, part_bytes: int = 8 * MB,
                 pending_seconds: int = 3600, redis: redis.Redis | None = None) -> None:
        self.s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_bytes = part_bytes
        self.pending_seconds = pending_seconds
        self.redis = redis
        """Where the kept-audio markers are read by the sweep (the job store's Redis)."""
        self._kept: set[str] = set()
        """Jobs whose end, staged in this process, keeps the audio: `after_commit` leaves them."""

    @classmethod
    def from_settings(cls, settings: StorageSettings, client: redis.Redis) -> S3AudioStore:
        url = urlparse(settings.url)
        s3 = boto3.client(
            "s3", endpoint_url=settings.s3.endpoint_url or None, region_name=settings.s3.region or None,
            # Checksums only where S3 requires them: botocore's default (CRC32 on every upload, since
            # 1.36) is refused by some S3-compatible stores, and buffers each part once more.
            config=Config(retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=CONNECT_TIMEOUT_SECONDS,
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"),
        )
        return cls(s3, url.netloc, url.path, int(settings.tuning.part_mb * MB), settings.pending_seconds, client)

    def key(self, job_id: str) -> str:
        return f"{self.prefix}{job_id}"

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        with _outage_passes():
            return self._put(job_id, chunks)

    def _put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        parts = _at_least(pieces(chunks, self.part_bytes), MIN_PART_BYTES)
        first = next(parts, b"")
        second = next(parts, None)
        if second is None:  # small enough for one request
            self.s3.put_object(Bucket=self.bucket, Key=self.key(job_id), Body=first)
            return len(first)
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key(job_id))["UploadId"]
        try:
            done = []
            total = 0
            for number, part in enumerate(_chain(first, second, parts), start=1):
                etag = self.s3.upload_part(Bucket=self.bucket, Key=self.key(job_id), UploadId=upload,
                                           PartNumber=number, Body=part)["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
                total += len(part)
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key(job_id), UploadId=upload,
                                              MultipartUpload={"Parts": done})
            return total
        except BaseException:
            self._abort_quietly(job_id, upload)
            raise

    def get(self, job_id: str) -> bytes | None:
        with _outage_passes():
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=self.key(job_id))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return None
                raise
            body: bytes = response["Body"].read()
            return body

    def delete(self, job_id: str) -> None:
        with _outage_passes():
            self.s3.delete_object(Bucket=self.bucket, Key=self.key(job_id))

    def copy_to(self, job_id: str, out: BinaryIO) -> bool:
        with _outage_passes():
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=self.key(job_id))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return False
                raise
            for chunk in response["Body"].iter_chunks(MB):
                out.write(chunk)
            return True

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        if ended.keep_audio_seconds > 0:  # verification mode: the marker's TTL is the window
            pipe.set(keys.kept_audio_key(ended.job_id), "1", ex=ended.keep_audio_seconds)
            self._kept.add(ended.job_id)
        else:
            self._kept.discard(ended.job_id)

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        pipe.delete(keys.kept_audio_key(erased.job_id))
        self._kept.discard(erased.job_id)

    def after_commit(self, transition: Transition, job_id: str) -> None:
        if transition == Transition.CREATED:
            return
        if transition == Transition.ENDED and job_id in self._kept:
            self._kept.discard(job_id)
            return  # kept for its window; the sweep deletes it after
        try:
            self.delete(job_id)
        except Exception as exc:  # noqa: BLE001 - the outcome is recorded already: the sweep deletes it later
            log.warning("job %s: could not delete its audio yet (%s); the audio sweep will", job_id,
                        exc.__class__.__name__)

    def sweep(self, keep: Callable[[str], bool]) -> int:
        """Delete objects (and abandoned multipart uploads) older than the upload window whose job is over.

        Objects younger than `pending_seconds` may belong to an upload whose job is not stored yet.
        """
        with _outage_passes():
            return self._sweep(keep)

    def _sweep(self, keep: Callable[[str], bool]) -> int:
        cutoff = time.time() - self.pending_seconds
        deleted = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                job_id = item["Key"][len(self.prefix):]
                if item["LastModified"].timestamp() < cutoff and not keep(job_id) and not self._is_kept(job_id):
                    self.s3.delete_object(Bucket=self.bucket, Key=item["Key"])
                    deleted += 1
        listed = self.s3.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        for upload in listed.get("Uploads", []):
            if upload["Initiated"].timestamp() < cutoff:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return deleted

    def _is_kept(self, job_id: str) -> bool:
        """The job ended in verification mode and its window is not over (its marker lives)."""
        return self.redis is not None and bool(self.redis.exists(keys.kept_audio_key(job_id)))

    def _abort_quietly(self, job_id: str, upload: str) -> None:
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key(job_id), UploadId=upload)
        except Exception as exc:  # noqa: BLE001 - the sweep (or the bucket's lifecycle rule) aborts it later
            log.warning("could not abort an audio upload (%s)", exc.__class__.__name__)


def is_outage(exc: BaseException) -> bool:
    """The store did not answer, or answered "not now": the same request succeeds later."""
    if isinstance(exc, TRANSPORT_ERRORS):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in PASSING_CODES or status >= 500
    return False


@contextmanager
def _outage_passes() -> Iterator[None]:
    """Raise an outage as `StorageUnavailable`; anything else (a refusal, the caller's own error) as it is."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        if not is_outage(exc):
            raise
        raise StorageUnavailable("the audio store is unavailable; nothing was lost, try again in a moment",
                                 RETRY_AFTER_SECONDS) from exc


def _at_least(parts: Iterable[bytes], minimum: int) -> Iterator[bytes]:
    """Parts of at least `minimum` bytes (the last may be shorter): short ones are joined to the next."""
    held = b""
    for part in parts:
        held = held + part if held else part
        if len(held) >= minimum:
            yield held
            held = b""
    if held:
        yield held


def _chain(first: bytes, second: bytes, rest: Iterable[bytes]) -> Iterable[bytes]:
    yield first
    yield second
    yield from rest
