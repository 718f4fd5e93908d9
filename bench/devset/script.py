"""The dev set's text: what each voice says (spoken) and what the EHR should get (written).

Both come from one source, `dictations.yaml`, where `{written|spoken}` marks a number, dose or
measurement and `commands: true` dictations speak their punctuation and layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DICTATIONS = HERE / "dictations.yaml"
MANIFEST = HERE / "manifest.json"
HELDOUT = HERE / "heldout.yaml"
HELDOUT_MANIFEST = HERE / "manifest.heldout.json"
AUDIO = HERE / "audio"

_MARKUP = re.compile(r"\{([^|{}]*)\|([^|{}]*)\}")
# Dictated punctuation: what a Dragon-trained clinician says for each mark.
_SPOKEN_MARKS = {",": "comma", ".": "period", ":": "colon"}


@dataclass(frozen=True)
class Dictation:
    id: str
    note_type: str
    commands: bool
    text: str

    @property
    def written(self) -> str:
        """The note as the EHR should receive it: numerals, units, punctuation, paragraphs."""
        paragraphs = [" ".join(p.split()) for p in _MARKUP.sub(r"\1", self.text).strip().split("\n\n")]
        return "\n\n".join(paragraphs)

    @property
    def spoken(self) -> str:
        """What the voice reads, word for word (the reference for raw ASR output)."""
        paragraphs = [" ".join(p.split()) for p in _MARKUP.sub(r"\2", self.text).strip().split("\n\n")]
        if not self.commands:
            return " ".join(paragraphs)
        said = []
        for paragraph in paragraphs:
            # "found in the colon, comma, at ..." : the spoken mark, with pauses around it for the voice.
            said.append(re.sub(r"([,.:])(?=\s|$)", lambda m: f", {_SPOKEN_MARKS[m[1]]}{m[1]}", paragraph))
        return " new paragraph. ".join(said)


def load(source: Path = DICTATIONS) -> list[Dictation]:
    entries = yaml.safe_load(source.read_text())
    return [Dictation(id=e["id"], note_type=e["note_type"], commands=bool(e["commands"]), text=e["text"])
            for e in entries]
