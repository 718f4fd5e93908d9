"""A live session's text messages from its client: what each one asks for, or why it is refused.

- `{"type": "end"}` ends the session.
- `{"type": "resume", "seq": N}` renumbers the next chunk (N a whole number from 0 to `MAX_SEQ`).
- `{"type": "command", "name": "scratch_that"}` is a dictation command, as a button or a key sends it
  (`"template": "<name>"` too for `insert_template`): stored in order with the audio, at the point the
  audio stored so far reaches, and applied by the session's worker there, through the same editor as a
  spoken command, with a `command` event whose `source` is `client`. The names are the grammar's
  (`dictation.grammar.COMMANDS`) that take no words: `select` and `correct that` are spoken only.

Anything else (not JSON, not an object, over `MAX_COMMAND_CHARS`, an unknown type or name, a bad field)
is refused with a `bad_message` error event; the connection goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dictation.grammar import COMMANDS, Argument

MAX_COMMAND_CHARS = 1024
"""A text message is a short command; a longer one is refused unparsed (no JSON nesting bombs)."""
MAX_SEQ = 10**9
MAX_TEMPLATE_CHARS = 200
CLIENT_COMMANDS = tuple(spec.name for spec in COMMANDS if spec.argument in (Argument.NONE, Argument.TEMPLATE))
"""What a client may send as a command: every command but those that take words."""


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Resume:
    seq: int


@dataclass(frozen=True)
class Command:
    command: dict[str, Any]
    """As stored: `name`, and `template` for `insert_template`."""


@dataclass(frozen=True)
class Refused:
    message: str
    """What to send instead (the `bad_message` event's message)."""


Message = End | Resume | Command | Refused

_KINDS = (f'text messages are {{"type": "end"}}, {{"type": "resume", "seq": N}} (N a whole number from 0 to '
          f'{MAX_SEQ}) or {{"type": "command", "name": ...}}, at most {MAX_COMMAND_CHARS} characters')


def read_message(text: str) -> Message:
    """What a client's text message asks for."""
    message = parse_json(text)
    kind = message.get("type") if message is not None else None
    if message is None or kind not in ("end", "resume", "command"):
        return Refused(_KINDS)
    if kind == "end":
        return End()
    if kind == "resume":
        seq = message.get("seq")
        if type(seq) is int and 0 <= seq <= MAX_SEQ:  # not a bool, which is an int
            return Resume(seq)
        return Refused(_KINDS)
    return read_command(message)


def read_command(message: dict[str, Any]) -> Command | Refused:
    name, template = message.get("name"), message.get("template")
    if name not in CLIENT_COMMANDS:
        return Refused(f"a command's name is one of {', '.join(CLIENT_COMMANDS)}; not {str(name)[:40]!r}")
    if set(message) - {"type", "name", "template"}:
        return Refused('a command has only "type", "name" and, for insert_template, "template"')
    if name != "insert_template":
        return Command({"name": name}) if template is None else Refused('only insert_template takes a "template"')
    if not isinstance(template, str) or not 0 < len(template) <= MAX_TEMPLATE_CHARS:
        return Refused(f'insert_template takes "template": a template\'s name (1 to {MAX_TEMPLATE_CHARS} characters)')
    return Command({"name": name, "template": template})


def parse_json(text: str) -> dict[str, Any] | None:
    """A client's text message as a JSON object, or None when it is none (or too long to be one)."""
    if len(text) > MAX_COMMAND_CHARS:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None
