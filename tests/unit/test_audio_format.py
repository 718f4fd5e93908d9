"""Recognising accepted audio containers from their first bytes."""

from pathlib import Path

import pytest

from core.audio_format import detect_audio_format, detect_tagged_format
from core.errors import InvalidInput, UnsupportedMedia

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("colonoscopy.wav", "wav"), ("egd.flac", "flac"), ("summary.mp3", "mp3"), ("summary.ogg", "ogg"),
     ("summary.m4a", "m4a")],
)
def test_real_files_are_recognised(name: str, expected: str) -> None:
    assert detect_audio_format((FIXTURES / name).read_bytes()[:64]) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [(b"\x1a\x45\xdf\xa3\x01\x00", "webm"), (b"\xff\xfb\x90\x00", "mp3"), (b"\xff\xf1\x50\x80", "aac")],
)
def test_other_containers_are_recognised(head: bytes, expected: str) -> None:
    assert detect_audio_format(head) == expected


def test_text_and_images_are_refused() -> None:
    for head in (b"hello, this is not audio", b"\x89PNG\r\n\x1a\n", b"%PDF-1.7"):
        with pytest.raises(UnsupportedMedia):
            detect_audio_format(head)


def test_an_empty_upload_is_refused() -> None:
    with pytest.raises(InvalidInput):
        detect_audio_format(b"")


def test_an_id3_tag_is_looked_behind_for_flac_and_aac_and_is_mp3_otherwise() -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x02" + b"\x00" * 2  # a 2-byte tag body
    flac = (FIXTURES / "egd.flac").read_bytes()[:64]

    assert detect_tagged_format(tag + flac) == "flac"
    assert detect_tagged_format(tag + b"\xff\xf1\x50\x80") == "aac"
    assert detect_tagged_format(tag + b"\xff\xfb\x90\x00") == "mp3"
    assert detect_tagged_format(tag + b"#EXTM3U\n") == "mp3"
    assert detect_tagged_format(b"ID3") == "mp3"
