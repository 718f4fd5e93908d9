"""The editor: applies dictated text and commands to the document, and says what changed.

For a file job, `edit` returns the text after every command and the commands applied (with their audio
time and what they applied to). For a live session, `Editor.apply` returns events: `{"type": "command",
"name", "applied_to"}` for each command, and `{"type": "final", "id", "revision", "text"}` for each block
it wrote or changed, so a client redraws those. A command that cannot apply says so in its event
(`"applied": false` and a `reason`) and writes nothing; dictated text is never dropped, and "undo that"
brings back what a command removed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dictation.document import LINE, PARAGRAPH, Kind, State
from dictation.grammar import Call, Context, Piece, Text, Utterance, recognise
from dictation.templates import Expansion, Template

Event = dict[str, Any]


class NotApplied(Exception):
    """A command that cannot apply now; the message says why, for the client and the reviewer."""


@dataclass
class Edited:
    text: str
    commands: list[dict[str, Any]]
    unfilled: list[dict[str, object]]
    stopped: bool = False


@dataclass
class Editor:
    templates: Mapping[str, Template] = field(default_factory=dict)
    """Template name -> template: the ones "insert" may insert."""
    state: State = field(default_factory=State)
    history: list[State] = field(default_factory=list)
    revisions: dict[int, int] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.state.render()

    def context(self) -> Context:
        triggers = {t: name for name, template in self.templates.items() for t in template.triggers}
        return Context(document=self.text, templates=triggers)

    def hear(self, utterance: Utterance) -> list[Event]:
        """Recognise one utterance against the document as it stands, and apply it."""
        events: list[Event] = []
        for piece in recognise([utterance], self.context()):
            events += self.apply(piece)
        return events

    def apply(self, piece: Piece, source: str = "speech") -> list[Event]:
        """Apply a piece of what was said (or a command a client sent: `source` "client"): its events."""
        before = [(b.text, b.kind, self._current(b.id)) for b in self.state.blocks]
        if isinstance(piece, Text):
            self.history.append(copy.deepcopy(self.state))
            self._dictate(piece.text)
            return self._finals(before)
        event: Event = {"type": "command", "name": piece.name, "said": piece.said, "source": source,
                        "start": piece.start, "end": piece.end}
        snapshot = copy.deepcopy(self.state)
        try:
            applied_to = _HANDLERS[piece.name](self, piece)
        except NotApplied as refused:
            self.state = snapshot
            event.update(applied=False, applied_to=None, reason=str(refused))
        else:
            if piece.name != "undo":
                self.history.append(snapshot)
            event.update(applied=True, applied_to=applied_to)
        self.commands.append({k: v for k, v in event.items() if k != "type"})
        return [event, *self._finals(before)]

    def result(self) -> Edited:
        unfilled = [f for b in self.state.blocks if b.text and b.expansion for f in b.expansion.unfilled()]
        return Edited(self.text, list(self.commands), unfilled, self.state.stopped)

    def _dictate(self, text: str) -> None:
        state = self.state
        if state.selection is not None:  # as in Dragon: what is dictated over a selection replaces it
            state.replace(state.selection, text)
            state.said.append((state.selection.block, None))
            state.selection = None
            return
        filling = state.blocks[state.filling] if state.filling is not None else None
        if filling is not None and filling.expansion is not None and filling.expansion.open:
            state.said.append((filling.id, filling.expansion.current))
            filling.expansion.fill(text)
            filling.text = filling.expansion.text()
            return
        state.filling = None
        text = text.strip()
        last = next((b for b in reversed(state.blocks) if b.text), None)
        if last is not None and not last.is_text and text[:1].islower():
            text = text[0].upper() + text[1:]  # a new paragraph or line starts a sentence
        block = state.add(Kind.DICTATED, text)
        state.said.append((block.id, None))

    def _current(self, block_id: int) -> int | None:
        """The field dictation fills next, when it is in this block."""
        block = self.state.blocks[block_id]
        if self.state.filling != block_id or block.expansion is None or not block.expansion.open:
            return None
        return block.expansion.current

    def _finals(self, before: list[tuple[str, Kind, int | None]]) -> list[Event]:
        events = []
        for block in self.state.blocks:
            old = before[block.id] if block.id < len(before) else None
            if old is not None and old == (block.text, block.kind, self._current(block.id)):
                continue
            if old is not None:
                self.revisions[block.id] = self.revisions.get(block.id, 0) + 1
            events.append(self._final(block.id, block.text, block.kind))
        for gone in range(len(self.state.blocks), len(before)):  # undone: an empty final
            if before[gone][0]:
                self.revisions[gone] = self.revisions.get(gone, 0) + 1
                events.append(self._final(gone, "", before[gone][1]))
        return events

    def _final(self, block: int, text: str, kind: Kind) -> Event:
        event: Event = {"type": "final", "id": block, "revision": self.revisions.get(block, 0), "text": text,
                        "kind": str(kind)}
        current = self._current(block) if block < len(self.state.blocks) else None
        expansion = self.state.blocks[block].expansion if current is not None else None
        if current is not None and expansion is not None:
            start, end = expansion.field_span(current)
            event["field"] = {"index": current, "start": start, "end": end}
        return event


def edit(utterances: Iterable[Utterance], templates: Mapping[str, Template] | None = None,
         sent: Iterable[Call] = ()) -> Edited:
    """A file job's transcript (its segments as utterances) with its commands applied; `sent`: the
    commands a live session's client sent (its buttons), each applied before the first utterance that
    starts at or after its `start`, as the session's worker applied it."""
    editor = Editor(templates=templates or {})
    waiting = sorted(sent, key=lambda call: call.start)
    for utterance in utterances:
        while waiting and waiting[0].start <= utterance.start:
            editor.apply(waiting.pop(0), source="client")
        editor.hear(utterance)
    for call in waiting:
        editor.apply(call, source="client")
    return editor.result()


def _scratch(editor: Editor, call: Call) -> dict[str, Any]:
    state = editor.state
    if state.selection is not None:
        removed = state.selection.text(state.blocks)
        selected = state.selection.block
        state.replace(state.selection, "")
        state.selection = None
        return {"block": selected, "text": removed}
    while state.said:
        block_id, field_index = state.said.pop()
        block = state.blocks[block_id]
        if field_index is not None and block.expansion is not None:
            # the field filled last goes back to its default, and is the one dictation fills next
            block.expansion.values.pop(field_index, None)
            block.expansion.current = field_index
            state.filling = block_id
            block.text = block.expansion.text()
            return {"block": block_id, "field": field_index}
        if block.text:
            removed, block.text = block.text, ""
            if state.filling == block_id:
                state.filling = None
            return {"block": block_id, "text": removed.strip()}
    raise NotApplied("there is nothing dictated to scratch")


def _delete_sentence(editor: Editor, call: Call) -> dict[str, Any]:
    removed = editor.state.delete_last_sentence()
    if not removed:
        raise NotApplied("there is no sentence to delete")
    return {"text": removed}


def _delete_word(editor: Editor, call: Call) -> dict[str, Any]:
    removed = editor.state.delete_last_word()
    if not removed:
        raise NotApplied("there is no word to delete")
    return {"text": removed}


def _undo(editor: Editor, call: Call) -> dict[str, Any]:
    if not editor.history:
        raise NotApplied("there is nothing to undo")
    editor.state = editor.history.pop()
    return {"text": editor.text}


def _break(mark: str, kind: Kind) -> Callable[[Editor, Call], dict[str, Any]]:
    def add_break(editor: Editor, call: Call) -> dict[str, Any]:
        state = editor.state
        last = state.last_text_block()
        if last is not None and last.kind is Kind.DICTATED and last.text[-1:] not in ".?!:;,":
            last.text += "."  # as spoken-punctuation formatting does: a break ends the sentence
        block = state.add(kind, mark)
        state.said.append((block.id, None))
        return {"block": block.id}
    return add_break


def _select(editor: Editor, call: Call) -> dict[str, Any]:
    selection = editor.state.find(call.argument or "")
    if selection is None:
        raise NotApplied(f"“{call.argument}” is not in the text")
    editor.state.selection = selection
    return {"block": selection.block, "text": selection.text(editor.state.blocks)}


def _correct(editor: Editor, call: Call) -> dict[str, Any]:
    state = editor.state
    if state.selection is None:
        raise NotApplied("nothing is selected: say “select” and the words to correct first")
    old = state.selection.text(state.blocks)
    block = state.selection.block
    state.replace(state.selection, call.argument or "")
    state.selection = None
    return {"block": block, "text": old, "to": call.argument}


def _insert(editor: Editor, call: Call) -> dict[str, Any]:
    template = editor.templates.get(call.argument or "")
    if template is None:
        raise NotApplied(f"there is no template “{call.argument}”")
    expansion = Expansion(template)
    block = editor.state.add(Kind.TEMPLATE, expansion.text(), expansion)
    editor.state.said.append((block.id, None))
    editor.state.filling = block.id if expansion.open else None
    return {"block": block.id, "template": template.name, "fields": len(expansion.fields)}


def _open(editor: Editor) -> Expansion | None:
    filling = editor.state.filling
    expansion = editor.state.blocks[filling].expansion if filling is not None else None
    return expansion if expansion is not None and expansion.open else None


def _next_field(editor: Editor, call: Call) -> dict[str, Any]:
    expansion = _open(editor)
    if expansion is None:
        raise NotApplied("there is no field to move on from")
    left = expansion.current
    expansion.current += 1
    return {"template": expansion.template.name, "field": left, "label": expansion.fields[left].label}


def _previous_field(editor: Editor, call: Call) -> dict[str, Any]:
    filling = editor.state.filling
    expansion = editor.state.blocks[filling].expansion if filling is not None else None
    if filling is None or expansion is None or expansion.current == 0:
        raise NotApplied("there is no field before this one")
    expansion.current -= 1
    expansion.values.pop(expansion.current, None)
    editor.state.blocks[filling].text = expansion.text()
    return {"template": expansion.template.name, "field": expansion.current}


def _accept_defaults(editor: Editor, call: Call) -> dict[str, Any]:
    expansion = _open(editor)
    if expansion is None:
        raise NotApplied("there are no fields left to fill")
    left = list(range(expansion.current, len(expansion.fields)))
    expansion.current = len(expansion.fields)
    return {"template": expansion.template.name, "fields": left}


def _stop(editor: Editor, call: Call) -> dict[str, Any]:
    editor.state.stopped = True
    return {}


_HANDLERS: dict[str, Callable[[Editor, Call], dict[str, Any]]] = {
    "scratch_that": _scratch,
    "delete_last_sentence": _delete_sentence,
    "delete_last_word": _delete_word,
    "undo": _undo,
    "new_paragraph": _break(PARAGRAPH, Kind.PARAGRAPH),
    "new_line": _break(LINE, Kind.LINE),
    "select": _select,
    "correct_that": _correct,
    "insert_template": _insert,
    "next_field": _next_field,
    "previous_field": _previous_field,
    "accept_defaults": _accept_defaults,
    "stop_dictation": _stop,
}
