"""The command list of docs/guides/commands.md, generated from the grammar (`dictation.grammar.COMMANDS`).

    .venv/bin/python -m scripts.reference.commands_page           # rewrite the list in the page
    .venv/bin/python -m scripts.reference.commands_page --check   # exit 1 if it is stale

Only the part between the two markers is generated; the rest of the page is written by hand.
`tests/unit/test_dictation_docs.py` fails when the page on disk differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dictation.grammar import COMMANDS, Argument, Placement
from scripts.reference.markdown import cell

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "commands.md"
BEGIN = "<!-- commands: generated from dictation/grammar.py by scripts/reference/commands_page.py -->"
END = "<!-- end of commands -->"
_ARGUMENT = {
    Argument.NONE: "",
    Argument.WORDS: " *words*",
    Argument.TEXT: " *words*",
    Argument.TEMPLATE: " *trigger phrase*",
}
_WHERE = {
    Placement.ALONE: "alone, between pauses",
    Placement.ANYWHERE: "anywhere (not after “a”, “the”, …)",
}


def commands_table() -> str:
    """The markdown table of every command: what to say, where, and what it does."""
    rows = ["| Say | Command | Where | What it does |", "|---|---|---|---|"]
    for spec in COMMANDS:
        said = " / ".join(f"“{p}{_ARGUMENT[spec.argument]}”" for p in spec.phrases)
        rows.append(f"| {cell(said)} | `{spec.name}` | {_WHERE[spec.placement]} | {cell(spec.does)} |")
    return "\n".join(rows) + "\n"


def render(page: str) -> str:
    """The page with its generated block rewritten."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{PAGE} lacks the markers {BEGIN!r} ... {END!r}")
    return f"{head}{BEGIN}\n\n{commands_table()}\n{END}{tail}"


def main() -> int:
    page = PAGE.read_text()
    fresh = render(page)
    if "--check" in sys.argv:
        if fresh != page:
            print(f"stale: {PAGE.name}; run python -m scripts.reference.commands_page")
            return 1
        return 0
    PAGE.write_text(fresh)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
