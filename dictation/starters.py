"""The built-in starter templates (dictation/data/templates.toml), with the sources of their elements."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from dictation.templates import Template

STARTERS = Path(__file__).parent / "data" / "templates.toml"


@lru_cache(maxsize=1)
def starter_templates() -> tuple[Template, ...]:
    """Every starter template, in file order."""
    data = tomllib.loads(STARTERS.read_text())
    return tuple(Template.model_validate(entry) for entry in data["template"])
