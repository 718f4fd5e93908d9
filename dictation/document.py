"""The document dictation edits: blocks of dictated text, inserted templates and breaks.

A block is what one dictated phrase, one template or one break wrote. Blocks are never taken out of
the list, only emptied, so a block id names the same place for the whole session (a live client redraws
a final by its id); `Editor` keeps their revisions and the undo history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from dictation.templates import Expansion

PARAGRAPH = "\n\n"
LINE = "\n"
_SENTENCE_END = re.compile(r"[.?!][\"')]*(?=\s)")


class Kind(StrEnum):
    DICTATED = "dictated"
    TEMPLATE = "template"
    PARAGRAPH = "paragraph"
    LINE = "line"


@dataclass
class Block:
    id: int
    kind: Kind
    text: str
    expansion: Expansion | None = None
    """A template block's fields; its text follows them until the block is edited by hand."""

    @property
    def is_text(self) -> bool:
        return self.kind in (Kind.DICTATED, Kind.TEMPLATE)

    def freeze(self) -> None:
        """Edit a template block as text from now on (its unfilled fields are still reported)."""
        if self.expansion is not None:
            self.text = self.expansion.text()
            self.expansion.current = len(self.expansion.fields)


@dataclass
class Selection:
    block: int
    start: int
    end: int

    def text(self, blocks: list[Block]) -> str:
        return blocks[self.block].text[self.start:self.end]


@dataclass
class State:
    """Everything undo restores."""

    blocks: list[Block] = field(default_factory=list)
    selection: Selection | None = None
    filling: int | None = None
    """The template block whose fields dictation fills."""
    said: list[tuple[int, int | None]] = field(default_factory=list)
    """What was dictated, newest last, for "scratch that": (block, the field it filled or None)."""
    stopped: bool = False

    def add(self, kind: Kind, text: str, expansion: Expansion | None = None) -> Block:
        block = Block(len(self.blocks), kind, text, expansion)
        self.blocks.append(block)
        return block

    def last_text_block(self) -> Block | None:
        return next((b for b in reversed(self.blocks) if b.is_text and b.text), None)

    def render(self) -> str:
        out = ""
        for block in self.blocks:
            if not block.text:
                continue
            if block.is_text:
                out = f"{out} {block.text}" if out and not out.endswith("\n") else out + block.text
            else:
                out = out.rstrip(" ") + block.text
        return out.strip()

    def delete_last_sentence(self) -> str:
        """Remove text back to the end of the sentence before; the words removed."""
        removed: list[str] = []
        for block in reversed(self.blocks):
            if not block.text:
                continue
            if not block.is_text:
                break
            block.freeze()
            body = block.text.rstrip()
            ends = list(_SENTENCE_END.finditer(body[:-1]))
            if ends:
                cut = ends[-1].end()
                removed.insert(0, block.text[cut:].strip())
                block.text = block.text[:cut]
                break
            removed.insert(0, block.text)
            block.text = ""
            previous = self._text_before(block.id)
            if previous is None or previous.rstrip().endswith((".", "?", "!", "\n")):
                break
        return " ".join(removed)

    def delete_last_word(self) -> str:
        block = self.last_text_block()
        if block is None:
            return ""
        block.freeze()
        head, _, word = block.text.rstrip().rpartition(" ")
        block.text = head
        return word

    def find(self, words: str) -> Selection | None:
        """The last place `words` were dictated (case and punctuation aside)."""
        pattern = re.compile(r"\b" + r"[\s,;:.-]+".join(re.escape(w) for w in words.split()) + r"\b", re.I)
        for block in reversed(self.blocks):
            if block.is_text:
                matches = list(pattern.finditer(block.text))
                if matches:
                    return Selection(block.id, matches[-1].start(), matches[-1].end())
        return None

    def replace(self, selection: Selection, text: str) -> None:
        block = self.blocks[selection.block]
        block.freeze()
        if block.text[selection.start:selection.start + 1].isupper() and text[:1].islower():
            text = text[0].upper() + text[1:]  # "Two hemoclips" corrected to "three": "Three hemoclips"
        joined = block.text[:selection.start] + text + block.text[selection.end:]
        block.text = re.sub(r"\s{2,}", " ", joined).strip()

    def _text_before(self, block_id: int) -> str | None:
        for block in reversed(self.blocks[:block_id]):
            if block.text:
                return block.text
        return None
