"""The commands dev set meets the issue's targets on reference text, and every note ends as meant."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "commands.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_commands", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_commands"] = module
    spec.loader.exec_module(module)
    return module


def test_commands_are_recognised_and_ordinary_sentences_stay_text() -> None:
    commands = bench()
    result = commands.score(*commands.reference_cases())
    figures = result.figures()
    assert result.said >= 30 and result.sentences >= 200
    assert figures["recall"] >= 0.95, result.misses
    assert figures["taken_share"] <= 0.01, result.false_hits
    assert result.notes_right == result.notes, result.wrong_notes


def test_the_held_out_commands_are_recognised_on_reference_text_too() -> None:
    commands = bench()
    result = commands.score(*commands.reference_cases(heldout=True))
    assert result.said >= 15 and result.sentences >= 50
    assert result.right == result.said and result.false == 0, (result.misses, result.false_hits)
    assert result.notes_right == result.notes, result.wrong_notes
