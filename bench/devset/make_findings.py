"""Voice the findings dev set's own dictations (bench/devset/findings.yaml entries with a `text`).

    python3 -m uv run --group devset python bench/devset/make_findings.py

The same voices, paces, noise and encoding as the dev set (make.py: Piper's joe on every dictation,
espeak-ng on every other one; 16 kHz mono Ogg/Opus at 24 kbit/s), written to audio/ next to the dev
set's clips, with their own manifest (manifest.findings.json). The entries that only label a dictation
of dictations.yaml use that dictation's clips, already in manifest.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make import voice_all
from script import HERE, Dictation

FINDINGS = HERE / "findings.yaml"
MANIFEST = HERE / "manifest.findings.json"


def own_dictations() -> list[Dictation]:
    entries = yaml.safe_load(FINDINGS.read_text())
    return [Dictation(id=e["id"], note_type=e["note_type"], commands=bool(e["commands"]), text=e["text"])
            for e in entries if "text" in e]


def main() -> None:
    voice_all(own_dictations(), MANIFEST, first_seed=1000)


if __name__ == "__main__":
    main()
