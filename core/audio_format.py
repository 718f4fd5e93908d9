"""Recognise the audio containers EndoScribe accepts from their first bytes."""

from __future__ import annotations

from core.errors import InvalidInput, UnsupportedMedia

ACCEPTED = "wav, flac, mp3, m4a/aac, ogg/opus, webm"


def _is_mp3_frame(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits, layer III (bits 01), any version but "reserved".
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) == 0x02


def _is_adts(head: bytes) -> bool:
    # AAC ADTS: 12-bit sync 0xFFF, layer bits 00.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


def detect_audio_format(head: bytes) -> str:
    """Name the container of an upload from its first bytes, or raise a 4xx-mapped error."""
    if not head:
        raise InvalidInput("the uploaded file is empty; send a recording", code="empty_file")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or _is_mp3_frame(head):
        return "mp3"
    if _is_adts(head):
        return "aac"
    raise UnsupportedMedia(f"the file is not a recognised audio format; send one of: {ACCEPTED}")
