"""The commands dev set (commands.yaml): what is said, phrase by phrase, with its pauses and labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
COMMANDS = HERE / "commands.yaml"
COMMANDS_MANIFEST = HERE / "manifest.commands.json"
COMMANDS_HELDOUT = HERE / "commands.heldout.yaml"
"""Written before the grammar's sound-match threshold was chosen on commands.yaml, and never tuned on."""
COMMANDS_HELDOUT_MANIFEST = HERE / "manifest.commands.heldout.json"
AUDIO = HERE / "audio"

AFTER_TEXT = 0.15
"""The pause before dictated text said straight on (no pause of its own in commands.yaml)."""
BEFORE_COMMAND = 0.8
"""The pause before a command, and after it, unless commands.yaml says otherwise."""


@dataclass(frozen=True)
class Phrase:
    text: str
    pause: float
    command: str | None = None
    near_miss: bool = False


@dataclass(frozen=True)
class CommandDictation:
    id: str
    note_type: str
    said: tuple[Phrase, ...]
    written: str


def load_commands(source: Path = COMMANDS) -> list[CommandDictation]:
    dictations = []
    for entry in yaml.safe_load(source.read_text()):
        phrases: list[Phrase] = []
        for item in entry["said"]:
            item = {"text": item} if isinstance(item, str) else item
            after_command = bool(phrases) and phrases[-1].command is not None
            default = BEFORE_COMMAND if item.get("command") or after_command else AFTER_TEXT
            phrases.append(Phrase(str(item["text"]), float(item.get("pause", default)), item.get("command"),
                                  bool(item.get("near_miss", False))))
        dictations.append(CommandDictation(entry["id"], entry["note_type"], tuple(phrases), entry["written"]))
    return dictations
