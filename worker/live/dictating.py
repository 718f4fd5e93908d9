"""A live session's document, where dictation formatting is on: each final goes through the command grammar.

A final is corrected against the session's vocabulary and formatted (spoken punctuation, numbers; layout
is the grammar's), as its job's text will be, and heard by the session's
`dictation.editor.Editor`, which says what changed: `{"type": "command", "name", "applied",
"applied_to", "source"}` for a command (`"applied": false` and a `reason` when it cannot apply: it writes
nothing; `source`: `speech`, or `client` for a client's button or key, `worker.live.commanding`),
and a `final` for each block of the document it wrote or changed, numbered by the block (`segment`) with
a `revision`, so a client redraws that block. A command's words are never a final's text.

What was heard is kept in Redis by final number (`keys.session_said_key`), written before the final is
committed: a worker that takes the session over replays the finals committed so far and goes on with the
same document, and a final decoded again after a lost lease overwrites its own entry. The client's
commands it applied are kept there too (`c<n>`: how many finals came before it), and replayed in place.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from core import keys
from core.jobs import ClientCommand, JobOptions, Segment, Transcript
from core.session_commands import replayed
from core.settings import VocabularySettings
from dictation.editor import Editor
from dictation.grammar import Call, Utterance
from dictation.template_store import TemplateStore
from worker.text import lexicon
from worker.text.formatting import dictation_enabled, format_text

Event = dict[str, Any]


class LiveDictation:
    def __init__(self, client: redis.Redis, session_id: str, options: JobOptions, editor: Editor,
                 keep_ms: int, vocabulary: VocabularySettings | None = None) -> None:
        self.vocabulary = vocabulary or VocabularySettings()
        self.client = client
        self.session_id = session_id
        self.options = options
        self.editor = editor
        self.keep_ms = keep_ms

    @classmethod
    def load(cls, client: redis.Redis, session_id: str, options: JobOptions, owner: str, finals: int,
             keep_ms: int, vocabulary: VocabularySettings | None = None) -> LiveDictation | None:
        """The session's document as its first `finals` finals left it; None where formatting is off."""
        if not dictation_enabled(options):
            return None
        editor = Editor(templates=TemplateStore(client).templates(owner))
        live = cls(client, session_id, options, editor, keep_ms, vocabulary)
        said = client.hgetall(keys.session_said_key(session_id))
        commands = replayed(said)
        for number in range(finals + 1):
            while commands and commands[0].finals <= number:  # the client's commands, where they applied
                live.command(commands.pop(0).command)
            raw = said.get(str(number).encode())
            if raw is not None and number < finals:
                text, start, end = json.loads(raw)
                live.editor.hear(Utterance(text, start, end))
        return live

    @property
    def prompt(self) -> str:
        """Command phrases said to the model ahead of the vocabulary, so it writes them as said ("insert",
        not "and certain"): the commands bench measured recall 0.82 without such a prompt, 0.90 with it."""
        inserts = " ".join(f"Insert {t.triggers[0]}." for t in list(self.editor.templates.values())[:2])
        return f"Scratch that. {inserts} Next field. Accept defaults.".replace("  ", " ")

    @property
    def stopped(self) -> bool:
        """"Stop dictation" was said."""
        return self.editor.state.stopped

    @property
    def text(self) -> str:
        return self.editor.text

    def hear(self, number: int, text: str, start: float, end: float) -> list[Event]:
        """The events final `number` (the model's text) makes: commands, and the finals that changed."""
        heard = Transcript(text=text, language="en", duration=0.0, segments=[Segment(start=0, end=0, text=text)])
        corrected = lexicon.correct_job(heard, self.options, self.vocabulary).text
        formatted = format_text(corrected, self.options, layout=False)
        key = keys.session_said_key(self.session_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, str(number), json.dumps([formatted, start, end]))
        pipe.pexpire(key, self.keep_ms)
        pipe.execute()
        return [_public(event, start, end) for event in self.editor.hear(Utterance(formatted, start, end))]

    def command(self, command: ClientCommand) -> list[Event]:
        """The events a client's command makes (a button, a key), applied as the spoken one would be."""
        call = Call(command.name, "", command.at, command.at, command.template)
        return [_public(event, command.at, command.at) for event in self.editor.apply(call, source="client")]


def _public(event: Event, start: float, end: float) -> Event:
    """An editor event as a session event (a stream's own `id` is the event's place in the stream)."""
    if event["type"] == "command":
        told = {"type": "command", "name": event["name"], "applied": event["applied"],
                "applied_to": event["applied_to"], "said": event["said"], "source": event["source"], "start": start,
                "end": end}
        if not event["applied"]:
            told["reason"] = event["reason"]
        return told
    final = {"type": "final", "segment": event["id"], "revision": event["revision"], "text": event["text"],
             "kind": event["kind"], "start": start, "end": end}
    if "field" in event:
        final["field"] = event["field"]  # the template's field dictation fills next: where it is in `text`
    return final
