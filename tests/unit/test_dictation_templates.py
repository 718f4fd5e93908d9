"""Templates: the body's fields and choices, validation, and the starter set."""

from __future__ import annotations

import pytest

from dictation.starters import starter_templates
from dictation.templates import Expansion, FieldSpec, Template, TemplateInvalid, check_template, parse_body


def test_a_body_parses_into_text_fields_and_choices() -> None:
    assert parse_body("Prep [*good|fair|poor], time [8] min, [] and [a|b].") == [
        "Prep ", FieldSpec("good", ("good", "fair", "poor")), ", time ", FieldSpec("8"), " min, ", FieldSpec(""),
        " and ", FieldSpec("a", ("a", "b")), ".",
    ]


def test_a_choice_said_is_written_as_the_choice_and_a_blank_shows() -> None:
    expansion = Expansion(Template(name="t", triggers=["t"], body="Prep was [good|Fair|poor]. Plan: []."))
    expansion.fill("fair.")
    assert expansion.text() == "Prep was Fair. Plan: [ ]."
    assert expansion.unfilled() == [{"template": "t", "field": 1, "label": "", "default": ""}]


def test_a_template_that_does_not_parse_says_why() -> None:
    with pytest.raises(TemplateInvalid, match=r"template\.body"):
        check_template({"name": "t", "triggers": ["t"], "body": "Prep was [good"})
    with pytest.raises(TemplateInvalid, match=r"template\.name"):
        check_template({"name": "Normal EGD", "triggers": ["normal egd"], "body": "x"})
    assert check_template({"name": "t", "triggers": ["Normal E.G.D."], "body": "x"}).triggers == ["normal e.g.d"]


def test_every_starter_template_parses_and_names_its_sources() -> None:
    starters = starter_templates()
    assert {t.name for t in starters} >= {"normal-colonoscopy", "normal-egd"}
    for template in starters:
        assert template.sources, template.name
        assert Expansion(template).fields, template.name
