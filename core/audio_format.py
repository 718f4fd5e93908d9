"""Recognise the audio containers EndoScribe accepts from their first bytes."""

from __future__ import annotations

from core.errors import ErrorCode, InvalidInput, UnsupportedMedia

ACCEPTED = "wav, flac, mp3, m4a/aac, ogg/opus, webm"
# ffmpeg's demuxer for each container detect_audio_format names. The worker passes it to ffmpeg so
# that ffmpeg never guesses: a guess can be a playlist or concat list that opens files on the host.
DEMUXERS = {"wav": "wav", "flac": "flac", "ogg": "ogg", "webm": "matroska", "m4a": "mov", "mp3": "mp3",
            "aac": "aac"}
# Containers an ID3v2 tag is found in front of; ffmpeg reads past the tag before any demuxer.
_TAGGED = ("flac", "aac")


def _is_mp3_frame(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits, layer III (bits 01), any version but "reserved".
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) == 0x02


def _is_adts(head: bytes) -> bool:
    # AAC ADTS: 12-bit sync 0xFFF, layer bits 00.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


def detect_audio_format(head: bytes) -> str:
    """Name the container of an upload from its first bytes, or raise a 4xx-mapped error."""
    if not head:
        raise InvalidInput("the uploaded file is empty; send a recording", code=ErrorCode.EMPTY_FILE)
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


def detect_tagged_format(data: bytes) -> str:
    """The container of a whole upload: detect_audio_format, looking behind a leading ID3v2 tag.

    The tag leads MP3 but also some AAC and FLAC files. Behind it lies what the demuxer will read,
    so anything there but FLAC or ADTS is taken for MP3 and decoded as MP3, nothing else.
    """
    found = detect_audio_format(data[:64])
    if data[:3] != b"ID3" or len(data) < 10:
        return found
    # The size is syncsafe (7 bits a byte), excluding the 10-byte header and an optional footer.
    size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
    end = 10 + size + (10 if data[5] & 0x10 else 0)
    try:
        behind = detect_audio_format(data[end:end + 64])
    except (InvalidInput, UnsupportedMedia):
        return found
    return behind if behind in _TAGGED else found
