"""Stream an upload into the audio store, checking it on the way: size limit, magic bytes, not empty."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from fastapi import UploadFile

from core.audio_format import detect_audio_format
from core.audio_store import AudioStore
from core.errors import ErrorCode, InvalidInput, PayloadTooLarge

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredUpload:
    size: int
    audio_format: str


def store_upload(file: UploadFile, limit: int, audio: AudioStore, job_id: str) -> StoredUpload:
    """Copy the file to the store a chunk at a time (blocking: run it in a thread), or raise 413/415/400
    with nothing stored. Memory per upload is a chunk plus one piece of the store, whatever the file's size."""
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"the file is {file.size / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB")
    formats: list[str] = []
    size = audio.put(job_id, _checked_chunks(file.file, limit, formats))
    return StoredUpload(size=size, audio_format=formats[0])


def _checked_chunks(source: BinaryIO, limit: int, formats: list[str]) -> Iterator[bytes]:
    total = 0
    while chunk := source.read(CHUNK):
        if not total:
            formats.append(detect_audio_format(chunk[:64]))  # 415 before anything is stored
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the file is over {limit / 1e6:g} MB, the limit; split or compress it")
        yield chunk
    if total == 0:
        raise InvalidInput("the uploaded file is empty; send a recording", code=ErrorCode.EMPTY_FILE)
