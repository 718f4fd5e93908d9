"""The note types a job may name: each one's built-in vocabulary list and its LOINC document type.

A new note type is one entry here plus its list in `core/vocabularies/`; submission checks, OpenAPI,
decoding vocabularies and the FHIR callback's document type all read this registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NoteType:
    name: str
    vocabulary_file: Path
    """Its built-in list of terms, one a line (`#` comments): its jobs decode with it, then the general list."""
    loinc_code: str
    """The LOINC document type of its FHIR DocumentReference."""
    loinc_display: str


VOCABULARIES = Path(__file__).parent / "vocabularies"
GENERAL_VOCABULARY = "endoscopy"
"""The general list every other list ends with."""
GENERAL_FILE = VOCABULARIES / f"{GENERAL_VOCABULARY}.txt"
DEFAULT_NOTE_TYPE = "procedure"
"""The FHIR document type of a callback whose job names no note type."""

# LOINC document types checked against loinc.org: 18746-8 "Colonoscopy study", 18751-8 "Endoscopy
# study", 28570-0 "Procedure note". ERCP, EUS and sigmoidoscopy reports are endoscopy studies too
# (the generic code, not a guess).
_COLONOSCOPY = ("18746-8", "Colonoscopy study")
_ENDOSCOPY = ("18751-8", "Endoscopy study")
_PROCEDURE = ("28570-0", "Procedure note")

NOTE_TYPES: dict[str, NoteType] = {nt.name: nt for nt in (
    NoteType("colonoscopy", VOCABULARIES / "colonoscopy.txt", *_COLONOSCOPY),
    NoteType("egd", VOCABULARIES / "egd.txt", *_ENDOSCOPY),
    NoteType("endoscopy", GENERAL_FILE, *_ENDOSCOPY),
    NoteType("ercp", VOCABULARIES / "ercp.txt", *_ENDOSCOPY),
    NoteType("eus", VOCABULARIES / "eus.txt", *_ENDOSCOPY),
    NoteType("sigmoidoscopy", VOCABULARIES / "sigmoidoscopy.txt", *_ENDOSCOPY),
    NoteType("procedure", VOCABULARIES / "procedure.txt", *_PROCEDURE),
)}
"""Every note type, by name (tests add their own entries to this dict)."""


def note_type_names() -> str:
    """The note types there are, for messages and descriptions."""
    return ", ".join(NOTE_TYPES)
