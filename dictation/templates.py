"""Templates (Dragon's auto-texts): a name, its trigger phrases, and a body with fields.

A body is text with fields in square brackets:
- `[text]`: a field whose default is `text` (what stays when it is not filled), `[]` one with none;
- `[a|b|c]`: a choice; its default is the one marked `*` (`[a|*b|c]`), else the first.

"Insert normal colonoscopy" inserts the body; what is dictated next fills its fields in order, "next
field" leaves one at its default, "accept defaults" leaves the rest. `Expansion` is that filling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import ErrorCode, Unprocessable

NAME_CHARS = 64
BODY_CHARS = 8000
MAX_TRIGGERS = 8
BLANK = "[ ]"
"""How a field with no default and no value is written: the review sees the hole."""
_FIELD = re.compile(r"\[([^\[\]]*)\]")


class TemplateInvalid(Unprocessable):
    code = ErrorCode.INVALID_TEMPLATE


class Template(BaseModel):
    """One auto-text, as `POST /v1/templates` takes it and the store keeps it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Its id within a key's set: lower case, digits, `-` and `_` ("normal-colonoscopy")."""
    triggers: list[str] = Field(min_length=1, max_length=MAX_TRIGGERS)
    """What is said after "insert" to insert it ("normal colonoscopy")."""
    body: str = Field(min_length=1, max_length=BODY_CHARS)
    """The text, with `[field]`, `[a|b|c]` and `[a|*b|c]` fields."""
    note_types: list[str] = Field(default_factory=list)
    """The note types it is written for (empty: any)."""
    sources: list[str] = Field(default_factory=list)
    """Where its required elements come from (a guideline, a registry's data dictionary)."""

    @field_validator("triggers")
    @classmethod
    def _spoken(cls, triggers: list[str]) -> list[str]:
        from dictation.grammar import normalise

        said = [normalise(t) for t in triggers]
        if not all(said):
            raise ValueError("a trigger phrase must have words")
        return said

    @field_validator("body")
    @classmethod
    def _parses(cls, body: str) -> str:
        if body.count("[") != body.count("]") or re.search(r"\[[^\]]*\[", body):
            raise ValueError("every field opens with [ and closes with ] (no fields inside fields)")
        return body


@dataclass(frozen=True)
class FieldSpec:
    default: str
    choices: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "|".join(self.choices) if self.choices else self.default


def parse_body(body: str) -> list[str | FieldSpec]:
    """The body as literal text and fields, in order."""
    parts: list[str | FieldSpec] = []
    last = 0
    for match in _FIELD.finditer(body):
        if match.start() > last:
            parts.append(body[last:match.start()])
        parts.append(_field(match[1]))
        last = match.end()
    if last < len(body):
        parts.append(body[last:])
    return parts


def _field(inside: str) -> FieldSpec:
    if "|" not in inside:
        return FieldSpec(inside.strip())
    options = [o.strip() for o in inside.split("|")]
    marked = [o[1:].strip() for o in options if o.startswith("*")]
    choices = tuple(o.lstrip("*").strip() for o in options)
    return FieldSpec(marked[0] if marked else choices[0], choices)


def check_template(raw: object) -> Template:
    """A template from a request body, or 422 saying what is wrong."""
    from pydantic import ValidationError

    try:
        return Template.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "template"
        raise TemplateInvalid(f"template.{where}: {first['msg']}") from None


@dataclass
class Expansion:
    """An inserted template and its fields as far as they are filled."""

    template: Template
    parts: list[str | FieldSpec] = field(default_factory=list)
    values: dict[int, str] = field(default_factory=dict)
    """Field index -> what was dictated into it."""
    current: int = 0
    """The field dictation fills next; `len(fields)` when none is left."""

    def __post_init__(self) -> None:
        self.parts = parse_body(self.template.body)

    @property
    def fields(self) -> list[FieldSpec]:
        return [p for p in self.parts if isinstance(p, FieldSpec)]

    @property
    def open(self) -> bool:
        return self.current < len(self.fields)

    def fill(self, said: str) -> tuple[FieldSpec, str]:
        """Fill the current field with what was dictated (a choice as it is written) and move on."""
        spec = self.fields[self.current]
        value = _choice(spec, said)
        if value not in spec.choices and not self._starts_sentence(self.current) and re.match(r"^[A-Z][a-z]", value):
            value = value[0].lower() + value[1:]  # the recogniser capitalises what followed a pause
        self.values[self.current] = value
        self.current += 1
        return spec, value

    def _starts_sentence(self, index: int) -> bool:
        before, n = "", 0
        for part in self.parts:
            if isinstance(part, str):
                before += part
            elif n == index:
                break
            else:
                before, n = before + "x", n + 1
        return not before.strip() or before.rstrip(" ").endswith((".", "?", "!", "\n"))

    def text(self) -> str:
        out, n = [], 0
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            out.append(self.values.get(n) or part.default or BLANK)
            n += 1
        return "".join(out).strip()

    def field_span(self, index: int) -> tuple[int, int]:
        """Where field `index` lies in `text()` (start, end offsets)."""
        out, n = "", 0
        for part in self.parts:
            if isinstance(part, str):
                out += part
                continue
            value = self.values.get(n) or part.default or BLANK
            if n == index:
                lead = len(out) - len(out.lstrip())
                return len(out) - lead, len(out) - lead + len(value)
            out += value
            n += 1
        raise IndexError(index)

    def unfilled(self) -> list[dict[str, object]]:
        """The fields nobody filled: they keep their defaults, and the review should see them."""
        return [{"template": self.template.name, "field": i, "label": spec.label, "default": spec.default}
                for i, spec in enumerate(self.fields) if i not in self.values]


# How a choice written as a numeral is said: "ASA class [I|II|III|IV]" is filled by "three".
_SAID_AS = {"i": "one", "ii": "two", "iii": "three", "iv": "four", "v": "five", "vi": "six", "1": "one",
            "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine"}


def _choice(spec: FieldSpec, said: str) -> str:
    from dictation.grammar import normalise

    words = normalise(said)
    for choice in spec.choices:
        written = normalise(choice)
        if words in (written, _SAID_AS.get(written)):
            return choice
    return said.strip().rstrip(".,;")
