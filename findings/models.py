"""What a dictation says, as fields: each with its value, unit, character span and audio time.

A field that was not said is absent (None, or an empty list); nothing is filled in from defaults.
The field list follows the GIQuIC colonoscopy/EGD registry elements and the ASGE/ACG quality
indicators (see `findings/data/sources.json`).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Indication = Literal["screening", "surveillance", "diagnostic"]
LAGrade = Literal["A", "B", "C", "D"]
ForrestClass = Literal["Ia", "Ib", "IIa", "IIb", "IIc", "III"]


class Stated(BaseModel, Generic[T]):
    """One value as the dictation stated it, and where: `text[start:end]` and the audio it was heard in."""

    model_config = ConfigDict(frozen=True)

    value: T
    unit: str | None = None
    """UCUM where there is a unit: `mm`, `cm`, `min`, `mg`, `ug`, `[Fr]`, `a` (years), `mo` (months)."""
    start: int
    """Offset of the first character of the words it came from, in the formatted transcript text."""
    end: int
    """Offset one past the last character."""
    audio_start: float | None = None
    """Seconds into the recording (from word timings when alignment ran, else from the segment)."""
    audio_end: float | None = None


class Sedation(BaseModel):
    agent: Stated[str]
    """Generic name, lower case: `propofol`, `midazolam`, `fentanyl`, `meperidine`, ..."""
    dose: Stated[float] | None = None


class Polyp(BaseModel):
    location: Stated[str] | None = None
    """Colon segment: `cecum`, `ascending colon`, `hepatic flexure`, ..., `rectum`."""
    size_mm: Stated[float] | None = None
    morphology: Stated[str] | None = None
    """`sessile`, `pedunculated`, `flat`, `semipedunculated` or `lateral spreading`."""
    paris: Stated[str] | None = None
    """Paris classification (Paris Workshop 2003): `0-Ip`, `0-Is`, `0-IIa`, `0-IIb`, `0-IIc`, `0-III`, ..."""
    removal: Stated[str] | None = None
    """`cold snare`, `hot snare`, `cold forceps`, `hot forceps`, `EMR`, `ESD`, or `not removed`."""
    retrieved: Stated[bool] | None = None


class Ulcer(BaseModel):
    location: Stated[str] | None = None
    size_mm: Stated[float] | None = None
    forrest: Stated[ForrestClass] | None = None


class Stent(BaseModel):
    kind: Stated[str] | None = None
    """`plastic`, `metal` (self-expanding metal, covered or uncovered)."""
    french: Stated[float] | None = None
    length_cm: Stated[float] | None = None
    duct: Stated[str] | None = None
    """`bile duct` or `pancreatic duct`."""


class _Common(BaseModel):
    sedation: list[Sedation] = Field(default_factory=list)
    complications: Stated[bool] | None = None
    """True when a complication was stated, False when the note says there were none."""
    complication_kinds: list[Stated[str]] = Field(default_factory=list)
    """`bleeding`, `perforation`, `hypoxia`, ... (the ones said to have occurred)."""


class ColonoscopyFindings(_Common):
    kind: Literal["colonoscopy"] = "colonoscopy"
    indication: Stated[Indication] | None = None
    extent: Stated[str] | None = None
    """The furthest point reached: `terminal ileum`, `cecum`, or the segment where the examination stopped."""
    cecum_reached: Stated[bool] | None = None
    """Cecal intubation (ASGE/ACG indicator): True at cecum or ileum, False when it could not be reached."""
    incomplete_reason: Stated[str] | None = None
    """Why the examination stopped short: `poor preparation`, `looping`, `obstruction`, `patient discomfort`, ..."""
    landmarks: list[Stated[str]] = Field(default_factory=list)
    """Cecal landmarks seen: `appendiceal orifice`, `ileocecal valve`, `terminal ileum`."""
    bbps_right: Stated[int] | None = None
    bbps_transverse: Stated[int] | None = None
    bbps_left: Stated[int] | None = None
    bbps_total: Stated[int] | None = None
    """Boston Bowel Preparation Scale (Lai et al. 2009): each segment 0-3, total 0-9."""
    withdrawal_minutes: Stated[float] | None = None
    polyps_absent: Stated[bool] | None = None
    """True when the note says no polyps were found (so an empty `polyps` is a finding, not a gap)."""
    polyps: list[Polyp] = Field(default_factory=list)
    follow_up: Stated[float] | None = None
    """The recommended interval to the next examination, in the unit said (`a` years or `mo` months)."""


class EgdFindings(_Common):
    kind: Literal["egd"] = "egd"
    la_grade: Stated[LAGrade] | None = None
    """Los Angeles classification of erosive esophagitis (Lundell et al. 1999)."""
    esophagitis_absent: Stated[bool] | None = None
    prague_c: Stated[float] | None = None
    prague_m: Stated[float] | None = None
    """Prague C&M criteria for Barrett's esophagus (Sharma et al. 2006), in cm."""
    hiatal_hernia: Stated[bool] | None = None
    hiatal_hernia_cm: Stated[float] | None = None
    z_line_cm: Stated[float] | None = None
    """Z-line position, cm from the incisors."""
    z_line: Stated[str] | None = None
    """`regular` or `irregular`."""
    varices: Stated[bool] | None = None
    biopsy_sites: list[Stated[str]] = Field(default_factory=list)
    ulcers: list[Ulcer] = Field(default_factory=list)


class PancreatobiliaryFindings(_Common):
    """ERCP and EUS reports."""

    kind: Literal["pancreatobiliary"] = "pancreatobiliary"
    cannulation: Stated[bool] | None = None
    """Deep cannulation of the intended duct: True achieved, False failed."""
    sphincterotomy: Stated[bool] | None = None
    stents: list[Stent] = Field(default_factory=list)
    stones_cleared: Stated[bool] | None = None


Findings = Annotated[ColonoscopyFindings | EgdFindings | PancreatobiliaryFindings, Field(discriminator="kind")]
FindingsModel = ColonoscopyFindings | EgdFindings | PancreatobiliaryFindings

# A job's note_type -> the findings it gets; `endoscopy` and `procedure` notes have no model (yet).
NOTE_TYPE_KINDS: dict[str, type[FindingsModel]] = {
    "colonoscopy": ColonoscopyFindings,
    "sigmoidoscopy": ColonoscopyFindings,
    "egd": EgdFindings,
    "ercp": PancreatobiliaryFindings,
    "eus": PancreatobiliaryFindings,
}


class FindingsResult(BaseModel):
    """The `format=findings` result: the note type and its findings (None for a note type with no model)."""

    note_type: str | None
    findings: Findings | None


def json_schema() -> dict[str, Any]:
    """The result's JSON Schema, for the OpenAPI document."""
    return FindingsResult.model_json_schema()
