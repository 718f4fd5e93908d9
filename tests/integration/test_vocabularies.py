"""Custom vocabularies per API key: stored, listed, deleted, used by id at submission, kept apart per key."""

from __future__ import annotations

import httpx
import pytest
import redis

from core import keys
from core.errors import NotFound
from core.vocabulary import VocabularyInvalid, VocabularyPhrase
from core.vocabulary_store import VocabularyCreate, VocabularyStore
from tests.jobs import FIXTURES, submit, wait_for_status

PHRASES = ["Resolution clip", {"phrase": "Helicobacter pylori", "sounds_like": ["helico back there"],
                               "display_as": "H. pylori"}]


def test_a_vocabulary_is_stored_listed_used_by_id_and_deleted(client: httpx.Client) -> None:
    created = client.post("/v1/vocabularies", json={"name": "Dr. Lee's GI terms", "phrases": PHRASES})
    assert created.status_code == 201, created.text
    vocabulary = created.json()
    assert set(vocabulary) == {"id", "name", "phrases", "created_at"}
    assert vocabulary["phrases"] == [
        {"phrase": "Resolution clip", "sounds_like": [], "display_as": None},
        {"phrase": "Helicobacter pylori", "sounds_like": ["helico back there"], "display_as": "H. pylori"},
    ]
    vocabulary_id = vocabulary["id"]
    assert client.get(f"/v1/vocabularies/{vocabulary_id}").json() == vocabulary
    assert vocabulary in client.get("/v1/vocabularies").json()["vocabularies"]

    job_id = submit(client, FIXTURES / "summary.wav", vocabulary='["sessile"]', vocabulary_id=vocabulary_id)["id"]
    job = wait_for_status(client, job_id)
    assert job["status"] == "completed"
    assert [p["phrase"] for p in job["options"]["vocabulary"]] == ["sessile", "Resolution clip", "Helicobacter pylori"]

    assert client.delete(f"/v1/vocabularies/{vocabulary_id}").status_code == 204
    gone = client.get(f"/v1/vocabularies/{vocabulary_id}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "unknown_vocabulary")
    assert client.delete(f"/v1/vocabularies/{vocabulary_id}").status_code == 404
    refused = client.post("/v1/jobs", files={"file": ("a.wav", (FIXTURES / "summary.wav").read_bytes())},
                          data={"vocabulary_id": vocabulary_id})
    assert refused.status_code == 422
    assert refused.json()["error"] == {
        "code": "unknown_vocabulary",
        "message": f"vocabulary_id {vocabulary_id} names no vocabulary of this key; list yours with GET "
                   "/v1/vocabularies",
    }


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"name": "x", "phrases": []}, 422, "validation_error"),
    ({"name": "", "phrases": ["a"]}, 422, "validation_error"),
    ({"name": "x", "phrases": ["y" * 65]}, 422, "validation_error"),
    ({"name": "x", "phrases": [{"phrase": "a", "colour": "red"}]}, 422, "validation_error"),
    ({"name": "x", "phrases": ["a"] * 101}, 422, "invalid_vocabulary"),
])
def test_bad_vocabularies_are_refused(client: httpx.Client, body: dict[str, object], status: int, code: str) -> None:
    response = client.post("/v1/vocabularies", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_each_key_sees_only_its_own_vocabularies_within_its_limit(clean_redis: redis.Redis) -> None:
    store = VocabularyStore(clean_redis, max_vocabularies=2, max_phrases=10)
    body = VocabularyCreate(name="terms", phrases=[VocabularyPhrase(phrase="sessile")])
    mine = store.create("key-a", body)
    store.create("key-a", body)

    with pytest.raises(VocabularyInvalid) as full:
        store.create("key-a", body)
    assert (full.value.code, full.value.message) == (
        "too_many_vocabularies", "this key already stores 2 vocabularies, the limit; delete one first")
    assert store.list_owned("key-b") == [] and store.create("key-b", body).id != mine.id
    with pytest.raises(NotFound):
        store.get("key-b", mine.id)
    with pytest.raises(NotFound):
        store.delete("key-b", mine.id)
    assert store.get("key-a", mine.id) == mine
    # A key's vocabularies expire unused (ENDOSCRIBE_VOCABULARY_CUSTOM_TTL_SECONDS), never sooner.
    assert 0 < clean_redis.ttl(keys.vocabularies_key("key-a")) <= 90 * 24 * 3600
