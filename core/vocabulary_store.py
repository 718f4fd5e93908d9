"""Custom vocabularies stored per API key, referenced by id at submission (`vocabulary_id`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import redis
from pydantic import BaseModel, ConfigDict, Field

from core import keys
from core.errors import NotFound
from core.vocabulary import VocabularyInvalid, VocabularyPhrase

PhraseText = Annotated[str, Field(min_length=1, max_length=64)]


class VocabularyCreate(BaseModel):
    """`POST /v1/vocabularies`: a name and its phrases (strings or Phrase / SoundsLike / DisplayAs objects)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    # Both shapes are in the schema (not turned into objects before validation), so what the OpenAPI
    # document promises is exactly what is accepted.
    phrases: list[VocabularyPhrase | PhraseText] = Field(min_length=1)

    def phrase_list(self) -> list[VocabularyPhrase]:
        return [p if isinstance(p, VocabularyPhrase) else VocabularyPhrase(phrase=p) for p in self.phrases]


class CustomVocabulary(BaseModel):
    """A stored vocabulary, as its owner sees it."""

    id: str
    name: str
    phrases: list[VocabularyPhrase]
    created_at: datetime


class VocabularyList(BaseModel):
    vocabularies: list[CustomVocabulary]


class VocabularyStore:
    """One Redis hash per API key; another key's vocabulary is as absent as a missing one."""

    def __init__(self, client: redis.Redis, max_vocabularies: int, max_phrases: int) -> None:
        self.redis = client
        self.max_vocabularies = max_vocabularies
        self.max_phrases = max_phrases

    def create(self, owner: str, body: VocabularyCreate) -> CustomVocabulary:
        if len(body.phrases) > self.max_phrases:
            raise VocabularyInvalid(f"the vocabulary has {len(body.phrases)} phrases; the limit is {self.max_phrases}")
        if self.redis.hlen(keys.vocabularies_key(owner)) >= self.max_vocabularies:
            raise VocabularyInvalid(f"this key already stores {self.max_vocabularies} vocabularies, the limit; "
                                    "delete one first", code="too_many_vocabularies")
        record = CustomVocabulary(id=str(uuid.uuid4()), name=body.name, phrases=body.phrase_list(),
                                  created_at=datetime.now(UTC))
        self.redis.hset(keys.vocabularies_key(owner), record.id, record.model_dump_json())
        return record

    def get(self, owner: str, vocabulary_id: str) -> CustomVocabulary:
        raw = self.redis.hget(keys.vocabularies_key(owner), vocabulary_id)
        if raw is None:
            raise NotFound(f"no vocabulary with id {vocabulary_id}", code="unknown_vocabulary")
        return CustomVocabulary.model_validate_json(raw)

    def list_owned(self, owner: str) -> list[CustomVocabulary]:
        records = [CustomVocabulary.model_validate_json(v) for v in self.redis.hvals(keys.vocabularies_key(owner))]
        return sorted(records, key=lambda r: r.created_at)

    def delete(self, owner: str, vocabulary_id: str) -> None:
        if not self.redis.hdel(keys.vocabularies_key(owner), vocabulary_id):
            raise NotFound(f"no vocabulary with id {vocabulary_id}", code="unknown_vocabulary")

    def phrases_for_job(self, owner: str, vocabulary_id: str) -> list[VocabularyPhrase]:
        """The phrases a submission's `vocabulary_id` names, or 422: the job cannot run without them."""
        try:
            return self.get(owner, vocabulary_id).phrases
        except NotFound:
            raise VocabularyInvalid(f"vocabulary_id {vocabulary_id} names no vocabulary of this key; list yours "
                                    "with GET /v1/vocabularies", code="unknown_vocabulary") from None
