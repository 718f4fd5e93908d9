"""`extract(note_type, text, segments)`: the findings a formatted dictation states, deterministically."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.jobs import Segment
from findings.models import NOTE_TYPE_KINDS, FindingsModel, FindingsResult
from findings.note import Note
from findings.rules import colonoscopy, egd, pancreatobiliary

RULES: dict[str, Callable[[Note], FindingsModel]] = {
    "colonoscopy": colonoscopy.extract,
    "egd": egd.extract,
    "pancreatobiliary": pancreatobiliary.extract,
}


def extract(note_type: str | None, text: str, segments: Sequence[Segment] = ()) -> FindingsModel | None:
    """The findings of one note, or None when its note type has no findings model."""
    kind = NOTE_TYPE_KINDS.get(note_type or "")
    if kind is None:
        return None
    rules = RULES[kind.model_fields["kind"].default]
    return rules(Note(text, segments))


def extract_result(note_type: str | None, text: str, segments: Sequence[Segment] = ()) -> FindingsResult:
    return FindingsResult(note_type=note_type, findings=extract(note_type, text, segments))
