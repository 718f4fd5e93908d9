"""Streaming an upload into an audio store: the checks on the way, and pieces of bounded size."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

import pytest
from fastapi import UploadFile

from api.errors import http_status_of
from api.uploads import StoredUpload, store_upload
from core.audio_store import pieces
from core.errors import EndoScribeError

WAV = b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\x01" * 3_000_000


class MemoryAudioStore:
    """Keeps what `put` streams, and nothing of a put that raised; records the largest chunk it saw."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.largest_chunk = 0

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        held = []
        for chunk in chunks:
            self.largest_chunk = max(self.largest_chunk, len(chunk))
            held.append(chunk)
        self.stored[job_id] = b"".join(held)
        return len(self.stored[job_id])

    def get(self, job_id: str) -> bytes | None:
        return self.stored.get(job_id)

    def delete(self, job_id: str) -> None:
        self.stored.pop(job_id, None)

    def sweep(self, keep: Callable[[str], bool]) -> int:
        return 0


def upload(data: bytes, declared: bool = True) -> UploadFile:
    return UploadFile(io.BytesIO(data), size=len(data) if declared else None, filename="a.wav")


def test_an_upload_is_streamed_a_chunk_at_a_time_and_its_format_named() -> None:
    store = MemoryAudioStore()
    assert store_upload(upload(WAV), 10_000_000, store, "j") == StoredUpload(size=len(WAV), audio_format="wav")
    assert store.stored["j"] == WAV and store.largest_chunk == 1024 * 1024


@pytest.mark.parametrize(("data", "declared", "limit", "status", "code"), [
    (WAV, True, 1_000_000, 413, "file_too_large"),  # from the declared size, before reading
    (WAV, False, 1_000_000, 413, "file_too_large"),  # while streaming, once past the limit
    (b"%PDF-1.7" + b"\x00" * 100, True, 1_000_000, 415, "unsupported_media_type"),
    (b"", True, 1_000_000, 400, "empty_file"),
])
def test_a_refused_upload_stores_nothing(data: bytes, declared: bool, limit: int, status: int, code: str) -> None:
    store = MemoryAudioStore()
    with pytest.raises(EndoScribeError) as refused:
        store_upload(upload(data, declared), limit, store, "j")
    assert (http_status_of(refused.value), refused.value.code) == (status, code)
    assert store.stored == {}


@pytest.mark.parametrize("size", [1, 3, 4, 5, 7])
def test_pieces_are_at_most_the_size_and_add_up_to_the_input(size: int) -> None:
    chunks = [b"ab", b"", b"cdefghij", b"k", b"lmn", b"opqrstuvwxyz"]
    out = list(pieces(chunks, size))
    assert b"".join(out) == b"".join(chunks)
    assert all(0 < len(piece) <= size for piece in out)


def test_whole_chunks_make_full_pieces() -> None:
    assert [len(p) for p in pieces([b"x" * 4] * 5, 8)] == [8, 8, 4]
