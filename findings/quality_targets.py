"""The published targets a unit's quality measures are read against, each with its source.

The ASGE/ACG colonoscopy quality indicators set minimum performance targets; the 2024 update raised
several of the 2015 ones, so both are listed where they differ. A target is a reference line on the
`/quality` page and travels with `GET /v1/quality` (`targets`), never a verdict: the indicators are
defined over populations (screening examinations, outpatients, normal examinations) that a note's
words only partly tell apart. Polyp detection has no target of its own; the adenoma detection rate
(ADR, which needs pathology) is shown beside it because a unit reads its PDR against it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

SOURCES = Path(__file__).parent / "data" / "sources.json"


class Target(BaseModel):
    """One published minimum (or maximum) for a measure of the quality report."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    measure: str
    """The report's field it is read against: `cecal_intubation`, `withdrawal.mean_minutes`, ..."""
    threshold: float
    """A rate (0 to 1) for a rate, minutes for a withdrawal time."""
    comparison: Literal[">=", "<"]
    label: str
    """How the page labels the line, e.g. `≥ 95 % (ASGE/ACG 2024)`."""
    population: str
    """Which examinations the source defines it over."""
    source: str
    """The citation (from `findings/data/sources.json`)."""


_TARGETS = (
    ("cecal_intubation", 0.95, ">=", "≥ 95 % (ASGE/ACG 2024)", "all colonoscopies", "asge_acg_2024"),
    ("cecal_intubation", 0.90, ">=", "≥ 90 % (ASGE/ACG 2015)", "all colonoscopies (≥ 95 % for screening)",
     "asge_acg_2015"),
    ("withdrawal.mean_minutes", 8.0, ">=", "≥ 8 min (ASGE/ACG 2024)", "normal examinations, age 45 and over",
     "asge_acg_2024"),
    ("withdrawal.mean_minutes", 6.0, ">=", "≥ 6 min (ASGE/ACG 2015)", "negative-result screening examinations",
     "asge_acg_2015"),
    ("adequate_preparation", 0.90, ">=", "≥ 90 % (ASGE/ACG 2024)", "outpatient examinations", "asge_acg_2024"),
    ("polyp_detection", 0.35, ">=", "ADR ≥ 35 % (ASGE/ACG 2024)",
     "adenomas (pathology), age 45 and over; a PDR is higher than the ADR of the same examinations",
     "asge_acg_2024"),
    ("screening_polyp_detection", 0.25, ">=", "screening ADR ≥ 25 % (ASGE/ACG 2015)",
     "adenomas (pathology) in average-risk screening; a PDR is higher than the ADR", "asge_acg_2015"),
)


@cache
def quality_targets() -> tuple[Target, ...]:
    """The targets, with their citations read from the findings' sources file."""
    cited = json.loads(SOURCES.read_text())["sources"]
    return tuple(Target(measure=measure, threshold=threshold, comparison=comparison, label=label,  # type: ignore[arg-type]
                        population=population, source=cited[source])
                 for measure, threshold, comparison, label, population, source in _TARGETS)
