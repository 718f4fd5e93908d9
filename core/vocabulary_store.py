"""Custom vocabularies stored per API key, referenced by id at submission (`vocabulary_id`).

A key's vocabularies live in one hash that expires `custom_ttl_seconds` after the key last stored, read
or used one: configuration in use is kept, and a key that went away leaves nothing behind for ever.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import redis
from pydantic import BaseModel, ConfigDict, Field

from core import keys
from core.errors import ErrorCode, NotFound
from core.redis_safety import check_room_to_store
from core.settings import QuotaSettings, Settings, VocabularySettings
from core.vocabulary import PhraseText, VocabularyInvalid, VocabularyPhrase

DEFAULT_TTL_SECONDS: int = VocabularySettings.model_fields["custom_ttl_seconds"].default


class VocabularyCreate(BaseModel):
    """`POST /v1/vocabularies`: a name and its phrases (strings or Phrase / SoundsLike / DisplayAs objects)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    # Both shapes are in the schema (not turned into objects before validation), so what the OpenAPI
    # document promises is exactly what is accepted.
    # The schema's bound is the highest `max_phrases` may be set to; the store applies the setting.
    phrases: list[VocabularyPhrase | PhraseText] = Field(min_length=1, max_length=1000)

    def phrase_list(self) -> list[VocabularyPhrase]:
        return [p if isinstance(p, VocabularyPhrase) else VocabularyPhrase(phrase=p) for p in self.phrases]


class CustomVocabulary(BaseModel):
    """A stored vocabulary, as its tenant sees it."""

    id: str
    name: str
    phrases: list[VocabularyPhrase]
    created_at: datetime


class VocabularyList(BaseModel):
    vocabularies: list[CustomVocabulary]


class VocabularyStore:
    """One Redis hash per API key; another key's vocabulary is as absent as a missing one."""

    def __init__(self, client: redis.Redis, max_vocabularies: int, max_phrases: int,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS, quota: QuotaSettings | None = None) -> None:
        self.redis = client
        self.max_vocabularies = max_vocabularies
        self.max_phrases = max_phrases
        self.ttl_seconds = ttl_seconds
        self.quota = quota
        """The memory guard's thresholds; None: not judged (stores made by `for_settings` judge)."""

    @classmethod
    def for_settings(cls, client: redis.Redis, settings: Settings) -> VocabularyStore:
        """The store as the settings limit it: phrases, vocabularies per key, TTL and the memory guard."""
        limits = settings.worker.vocabulary
        return cls(client, limits.max_custom_vocabularies, limits.max_phrases, limits.custom_ttl_seconds,
                   settings.quota)

    def create(self, tenant: str, body: VocabularyCreate) -> CustomVocabulary:
        if len(body.phrases) > self.max_phrases:
            raise VocabularyInvalid(f"the vocabulary has {len(body.phrases)} phrases; the limit is {self.max_phrases}")
        key = keys.vocabularies_key(tenant)
        if self.redis.hlen(key) >= self.max_vocabularies:
            raise VocabularyInvalid(f"this key already stores {self.max_vocabularies} vocabularies, the limit; "
                                    "delete one first", code=ErrorCode.TOO_MANY_VOCABULARIES)
        if self.quota is not None:
            check_room_to_store(self.redis, self.quota, "new vocabularies")
        record = CustomVocabulary(id=str(uuid.uuid4()), name=body.name, phrases=body.phrase_list(),
                                  created_at=datetime.now(UTC))
        pipe = self.redis.pipeline()
        pipe.hset(key, record.id, record.model_dump_json())
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()
        return record

    def get(self, tenant: str, vocabulary_id: str) -> CustomVocabulary:
        raw = self.redis.hget(keys.vocabularies_key(tenant), vocabulary_id)
        if raw is None:
            raise NotFound(f"no vocabulary with id {vocabulary_id}", code=ErrorCode.UNKNOWN_VOCABULARY)
        self._renew(tenant)
        return CustomVocabulary.model_validate_json(raw)

    def list_owned(self, tenant: str) -> list[CustomVocabulary]:
        records = [CustomVocabulary.model_validate_json(v) for v in self.redis.hvals(keys.vocabularies_key(tenant))]
        if records:
            self._renew(tenant)
        return sorted(records, key=lambda r: r.created_at)

    def delete(self, tenant: str, vocabulary_id: str) -> None:
        if not self.redis.hdel(keys.vocabularies_key(tenant), vocabulary_id):
            raise NotFound(f"no vocabulary with id {vocabulary_id}", code=ErrorCode.UNKNOWN_VOCABULARY)

    def phrases_for_job(self, tenant: str, vocabulary_id: str) -> list[VocabularyPhrase]:
        """The phrases a submission's `vocabulary_id` names, or 422: the job cannot run without them."""
        try:
            return self.get(tenant, vocabulary_id).phrases
        except NotFound:
            raise VocabularyInvalid(f"vocabulary_id {vocabulary_id} names no vocabulary of this key; list yours "
                                    "with GET /v1/vocabularies", code=ErrorCode.UNKNOWN_VOCABULARY) from None

    def _renew(self, tenant: str) -> None:
        self.redis.expire(keys.vocabularies_key(tenant), self.ttl_seconds)
