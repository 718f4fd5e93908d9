"""Read an upload into memory under the size limit."""

from __future__ import annotations

from fastapi import UploadFile

from core.errors import InvalidInput, PayloadTooLarge

CHUNK = 1024 * 1024


async def read_upload(file: UploadFile, limit: int) -> bytes:
    """The file's bytes, or a 413 that names both sizes once the limit is passed."""
    if file.size is not None and file.size > limit:
        raise PayloadTooLarge(f"the file is {file.size / 1e6:.1f} MB; the limit is {limit / 1e6:g} MB")
    parts: list[bytes] = []
    total = 0
    while chunk := await file.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the file is over {limit / 1e6:g} MB, the limit; split or compress it")
        parts.append(chunk)
    if total == 0:
        raise InvalidInput("the uploaded file is empty; send a recording", code="empty_file")
    return b"".join(parts)
