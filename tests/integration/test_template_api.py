"""`/v1/templates` through the served app on a real redis-server: a key's own templates, the
organisation's set every key inherits (written by an admin key) and overrides, the starters off until a
key turns them on; another key's templates are invisible, and bad input is a 4xx with its code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from core.settings import Settings
from dictation.template_store import templates_key
from tests.integration.test_quotas import KEYS, LiveApi, auth

ADMIN = "clinic-admin-key"
A, B, ADMIN_AUTH = auth(KEYS[0]), auth(KEYS[1]), auth(ADMIN)
EGD = {"name": "normal-egd", "triggers": ["Normal EGD"], "body": "Esophagus: [normal]. ASA class [II|I|III]."}


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=[*KEYS, ADMIN], template_admin_keys=[ADMIN]))
    yield live
    live.close()


def names(api: LiveApi, headers: dict[str, str]) -> list[tuple[str, str]]:
    response = api.get("/v1/templates", headers=headers)
    assert response.status_code == 200, response.text
    return [(t["name"], t["source"]) for t in response.json()["templates"]]


def refused(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_keys_template_is_stored_read_listed_and_deleted_and_no_other_key_sees_it(
        api: LiveApi, clean_redis: redis.Redis) -> None:
    created = api.post("/v1/templates", headers=A, json=EGD)
    assert created.status_code == 201, created.text
    assert created.json() == {**EGD, "triggers": ["normal egd"], "note_types": [], "sources": [], "source": "own"}
    assert api.get("/v1/templates/normal-egd", headers=A).json() == created.json()
    assert api.get("/v1/templates", headers=A).json() == {"templates": [created.json()], "builtin": False}

    assert names(api, B) == []
    assert refused(api.get("/v1/templates/normal-egd", headers=B)) == (404, "not_found")
    assert refused(api.delete("/v1/templates/normal-egd", headers=B)) == (404, "not_found")
    assert names(api, A) == [("normal-egd", "own")]
    assert clean_redis.exists(templates_key("")) == 0  # nothing stored for an anonymous caller

    assert api.delete("/v1/templates/normal-egd", headers=A).status_code == 204
    assert names(api, A) == []
    assert refused(api.get("/v1/templates/normal-egd", headers=A)) == (404, "not_found")


def test_every_key_inherits_the_organisations_set_and_overrides_it_by_name(api: LiveApi) -> None:
    shared = api.post("/v1/templates", headers=ADMIN_AUTH, params={"scope": "organisation"}, json=EGD)
    assert shared.status_code == 201 and shared.json()["source"] == "organisation"
    assert names(api, A) == names(api, B) == [("normal-egd", "organisation")]

    own = {**EGD, "body": "Dr A's esophagus: [normal]."}
    assert api.post("/v1/templates", headers=A, json=own).status_code == 201
    assert api.get("/v1/templates/normal-egd", headers=A).json()["body"] == "Dr A's esophagus: [normal]."
    assert api.get("/v1/templates/normal-egd", headers=B).json()["body"] == EGD["body"]

    assert api.delete("/v1/templates/normal-egd", headers=A).status_code == 204  # the organisation's shows again
    assert names(api, A) == [("normal-egd", "organisation")]
    assert refused(api.delete("/v1/templates/normal-egd", headers=A)) == (404, "not_found")  # not its own

    gone = api.delete("/v1/templates/normal-egd", headers=ADMIN_AUTH, params={"scope": "organisation"})
    assert gone.status_code == 204
    assert names(api, A) == names(api, B) == []


def test_only_an_admin_key_writes_the_organisations_set(api: LiveApi) -> None:
    assert refused(api.post("/v1/templates", headers=A, params={"scope": "organisation"}, json=EGD)) == (
        403, "forbidden")
    assert api.post("/v1/templates", headers=ADMIN_AUTH, params={"scope": "organisation"}, json=EGD).status_code == 201
    assert refused(api.delete("/v1/templates/normal-egd", headers=B, params={"scope": "organisation"})) == (
        403, "forbidden")
    assert names(api, B) == [("normal-egd", "organisation")]
    assert refused(api.get("/v1/templates", headers=auth("stolen"))) == (401, "unauthorized")


def test_the_starters_are_off_until_a_key_turns_them_on_for_itself(api: LiveApi) -> None:
    assert api.get("/v1/template-settings", headers=A).json() == {"builtin": False}
    assert api.put("/v1/template-settings", headers=A, json={"builtin": True}).json() == {"builtin": True}
    listed = api.get("/v1/templates", headers=A).json()
    assert listed["builtin"] is True
    assert ("normal-colonoscopy", "builtin") in [(t["name"], t["source"]) for t in listed["templates"]]
    assert all(t["sources"] for t in listed["templates"])  # every starter says where its elements come from
    assert names(api, B) == []
    assert api.put("/v1/template-settings", headers=A, json={"builtin": False}).json() == {"builtin": False}
    assert names(api, A) == []


@pytest.mark.parametrize(("body", "code"), [
    ({**EGD, "name": "Normal EGD"}, "validation_error"),
    ({**EGD, "triggers": []}, "validation_error"),
    ({**EGD, "triggers": ["..."]}, "validation_error"),
    ({**EGD, "body": "Esophagus: [normal."}, "validation_error"),
    ({**EGD, "body": "x" * 8001}, "validation_error"),
    ({**EGD, "colour": "red"}, "validation_error"),
])
def test_bad_templates_are_refused_with_their_code(api: LiveApi, body: dict[str, object], code: str) -> None:
    assert refused(api.post("/v1/templates", headers=A, json=body)) == (422, code)
    assert names(api, A) == []


def test_a_key_stores_at_most_its_limit(api: LiveApi, clean_redis: redis.Redis) -> None:
    from api.guards import tenant_for
    from dictation.template_store import MAX_TEMPLATES
    from dictation.templates import Template

    tenant = tenant_for(A["Authorization"], KEYS)
    stored = Template.model_validate(EGD).model_dump_json()
    clean_redis.hset(templates_key(tenant), mapping={f"t{n}": stored for n in range(MAX_TEMPLATES)})
    full = api.post("/v1/templates", headers=A, json={**EGD, "name": "one-more"})
    assert refused(full) == (409, "too_many_templates")
    assert api.post("/v1/templates", headers=A, json={**EGD, "name": "t0"}).status_code == 201  # a replacement
    assert api.post("/v1/templates", headers=B, json=EGD).status_code == 201  # another key has its own limit
