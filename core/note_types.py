"""The note types a job may name: each one's built-in vocabulary list and its LOINC document type.

A new note type is one entry here plus its list in `core/vocabularies/`; submission checks, OpenAPI,
decoding vocabularies and the FHIR callback's document type all read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoteType:
    name: str
    vocabulary: str
    """The built-in list (`core/vocabularies/<vocabulary>.txt`) its jobs decode with."""
    loinc_code: str
    """The LOINC document type of its FHIR DocumentReference."""
    loinc_display: str


GENERAL_VOCABULARY = "endoscopy"
"""The general list every other list ends with."""
DEFAULT_NOTE_TYPE = "procedure"
"""The FHIR document type of a callback whose job names no note type."""

# LOINC document types checked against loinc.org: 18746-8 "Colonoscopy study", 18751-8 "Endoscopy
# study", 28570-0 "Procedure note". ERCP, EUS and sigmoidoscopy reports are endoscopy studies too
# (the generic code, not a guess).
_COLONOSCOPY = ("18746-8", "Colonoscopy study")
_ENDOSCOPY = ("18751-8", "Endoscopy study")
_PROCEDURE = ("28570-0", "Procedure note")

NOTE_TYPES: dict[str, NoteType] = {nt.name: nt for nt in (
    NoteType("colonoscopy", "colonoscopy", *_COLONOSCOPY),
    NoteType("egd", "egd", *_ENDOSCOPY),
    NoteType("endoscopy", GENERAL_VOCABULARY, *_ENDOSCOPY),
    NoteType("ercp", "ercp", *_ENDOSCOPY),
    NoteType("eus", "eus", *_ENDOSCOPY),
    NoteType("sigmoidoscopy", "sigmoidoscopy", *_ENDOSCOPY),
    NoteType("procedure", "procedure", *_PROCEDURE),
)}
"""Every note type, by name (tests add their own entries to this dict)."""


def note_type_names() -> str:
    """The note types there are, for messages and descriptions."""
    return ", ".join(NOTE_TYPES)
