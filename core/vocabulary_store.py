"""Custom vocabularies stored per API key, referenced by id at submission (`vocabulary_id`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import redis
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core import keys
from core.errors import NotFound
from core.vocabulary import VocabularyInvalid, VocabularyPhrase


class VocabularyCreate(BaseModel):
    """`POST /v1/vocabularies`: a name and its phrases (strings or Phrase / SoundsLike / DisplayAs objects)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    phrases: list[VocabularyPhrase] = Field(min_length=1)

    @field_validator("phrases", mode="before")
    @classmethod
    def _strings_are_phrases(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"phrase": item} if isinstance(item, str) else item for item in value]
        return value


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
        record = CustomVocabulary(id=str(uuid.uuid4()), name=body.name, phrases=body.phrases,
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
