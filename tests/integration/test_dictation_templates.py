"""Templates are isolated per key, an organisation's set is inherited and overridable (real redis-server)."""

from __future__ import annotations

import pytest
import redis

from core.errors import Conflict, NotFound
from dictation.template_store import TemplateStore, organisation_templates_key, templates_key
from dictation.templates import Template


def template(name: str, body: str) -> Template:
    return Template(name=name, triggers=[name.replace("-", " ")], body=body)


def test_one_keys_templates_are_invisible_to_another(clean_redis: redis.Redis) -> None:
    store = TemplateStore(clean_redis)
    store.put("clinic-a", template("normal-egd", "EGD normal."))
    assert list(store.templates("clinic-a")) == ["normal-egd"]
    assert store.templates("clinic-b") == {}
    with pytest.raises(NotFound):
        store.delete("clinic-b", "normal-egd")
    assert list(store.templates("clinic-a")) == ["normal-egd"]
    assert clean_redis.hkeys(templates_key("clinic-a")) == [b"normal-egd"]


def test_a_key_inherits_its_organisations_set_and_overrides_it_by_name(clean_redis: redis.Redis) -> None:
    store = TemplateStore(clean_redis)
    store.put_organisation("st-marks", template("normal-egd", "Organisation EGD."))
    store.put_organisation("st-marks", template("normal-colonoscopy", "Organisation colonoscopy."))
    store.join("dr-a", "st-marks")
    store.join("dr-b", "st-marks")
    store.put("dr-a", template("normal-egd", "Dr A's own EGD."))
    assert {n: t.body for n, t in store.templates("dr-a").items()} == {
        "normal-egd": "Dr A's own EGD.", "normal-colonoscopy": "Organisation colonoscopy."}
    assert {n: t.body for n, t in store.templates("dr-b").items()} == {
        "normal-egd": "Organisation EGD.", "normal-colonoscopy": "Organisation colonoscopy."}
    assert store.templates("outsider") == {}
    store.delete("dr-a", "normal-egd")  # its own goes; the organisation's shows through again
    assert store.templates("dr-a")["normal-egd"].body == "Organisation EGD."
    store.join("dr-a", None)
    assert store.templates("dr-a") == {}
    assert clean_redis.hlen(organisation_templates_key("st-marks")) == 2


def test_starter_templates_are_off_until_a_key_enables_them(clean_redis: redis.Redis) -> None:
    store = TemplateStore(clean_redis)
    assert store.templates("clinic-a") == {}
    store.enable_builtin("clinic-a")
    assert "normal-colonoscopy" in store.templates("clinic-a")
    assert store.templates("clinic-b") == {}
    store.put("clinic-a", template("normal-colonoscopy", "Mine."))
    assert store.templates("clinic-a")["normal-colonoscopy"].body == "Mine."


def test_a_key_stores_at_most_its_limit_but_may_replace_one(clean_redis: redis.Redis) -> None:
    store = TemplateStore(clean_redis, max_templates=2)
    store.put("clinic-a", template("one", "One."))
    store.put("clinic-a", template("two", "Two."))
    with pytest.raises(Conflict, match="2 templates are stored already"):
        store.put("clinic-a", template("three", "Three."))
    store.put("clinic-a", template("two", "Two again."))
    assert store.templates("clinic-a")["two"].body == "Two again."
    store.put("clinic-b", template("three", "Three."))  # the limit is per key
