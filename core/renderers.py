"""Render the one stored transcript as json, txt, srt or vtt at fetch time."""

from __future__ import annotations

from typing import Literal

from core.jobs import Transcript

ResultFormat = Literal["json", "txt", "srt", "vtt"]

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def _timestamp(seconds: float, decimal: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both SRT and VTT; "-->" inside text would be read as timing.
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines).replace("-->", "->")


def render_txt(transcript: Transcript) -> str:
    return transcript.text.strip() + "\n"


def render_srt(transcript: Transcript) -> str:
    cues = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{_cue_text(s.text)}\n"
        for i, s in enumerate((s for s in transcript.segments if s.text.strip()), start=1)
    ]
    return "\n".join(cues)


def render_vtt(transcript: Transcript) -> str:
    cues = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{_cue_text(s.text)}\n"
        for s in transcript.segments
        if s.text.strip()
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def render(transcript: Transcript, fmt: ResultFormat) -> str:
    """The transcript in the requested format, as text."""
    if fmt == "json":
        return transcript.model_dump_json(exclude_none=True)
    return {"txt": render_txt, "srt": render_srt, "vtt": render_vtt}[fmt](transcript)
