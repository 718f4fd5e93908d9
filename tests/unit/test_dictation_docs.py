"""The command list of docs/guides/commands.md is the grammar's, and stays so."""

from __future__ import annotations

from dictation.grammar import COMMANDS
from scripts.reference.commands_page import PAGE, commands_table, render


def test_the_guide_lists_the_grammar_as_it_is() -> None:
    page = PAGE.read_text()
    assert render(page) == page, "stale command list; run python -m scripts.reference.commands_page"


def test_every_command_and_every_way_to_say_it_is_listed() -> None:
    table = commands_table()
    for spec in COMMANDS:
        assert f"`{spec.name}`" in table
        for phrase in spec.phrases:
            assert f"“{phrase}" in table
