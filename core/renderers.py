"""Render the one stored transcript as json, txt, srt, vtt or findings at fetch time.

A new result format is one `Renderer` in `RENDERERS`: `GET /v1/jobs/{id}/result?format=` validates,
documents and answers from this registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from core import subtitles
from core.errors import Conflict, ErrorCode
from core.jobs import Transcript
from findings.models import NOTE_TYPE_KINDS, FindingsResult


@dataclass(frozen=True)
class Renderer:
    name: str
    media_type: str
    render: Callable[[Transcript], bytes]
    schema: type[BaseModel] | None = None
    """The body's model, published in the OpenAPI document's components (None: not a JSON model)."""


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
    blocks = [f"{i}\n{_timestamp(c.start, ',')} --> {_timestamp(c.end, ',')}\n{_cue_text(c.text)}\n"
              for i, c in enumerate(subtitles.cues(transcript), start=1)]
    return "\n".join(blocks)


def render_vtt(transcript: Transcript) -> str:
    blocks = [f"{_timestamp(c.start, '.')} --> {_timestamp(c.end, '.')}\n{_cue_text(c.text)}\n"
              for c in subtitles.cues(transcript)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_json(transcript: Transcript) -> str:
    # The findings have their own format; `json` stays the transcript it always was.
    return transcript.model_dump_json(exclude_none=True, exclude={"findings"})


def render_findings(transcript: Transcript) -> str:
    if transcript.findings is None:
        kinds = ", ".join(NOTE_TYPE_KINDS)
        raise Conflict(f"this job has no findings: only the note types {kinds} have a findings model (or the "
                       "extraction failed, see the worker log); fetch format=json for the transcript",
                       code=ErrorCode.FINDINGS_UNAVAILABLE)
    return transcript.findings.model_dump_json()


def _utf8(text: Callable[[Transcript], str]) -> Callable[[Transcript], bytes]:
    return lambda transcript: text(transcript).encode()


RENDERERS: dict[str, Renderer] = {r.name: r for r in (
    Renderer("json", "application/json", _utf8(render_json), schema=Transcript),
    Renderer("txt", "text/plain; charset=utf-8", _utf8(render_txt)),
    Renderer("srt", "application/x-subrip; charset=utf-8", _utf8(render_srt)),
    Renderer("vtt", "text/vtt; charset=utf-8", _utf8(render_vtt)),
    Renderer("findings", "application/json", _utf8(render_findings), schema=FindingsResult),
)}
"""Every result format, by name (tests add their own entries to this dict)."""


def render(transcript: Transcript, fmt: str) -> str:
    """The transcript in a registered format, as text."""
    return RENDERERS[fmt].render(transcript).decode()
