"""Stored vocabularies are bounded: every string and list by the schema, the hash by a TTL that use
renews, and every write by the Redis memory guard (real redis-server)."""

from __future__ import annotations

import pytest
import redis

from api.errors import http_status_of
from core import keys
from core.errors import Overloaded
from core.settings import QuotaSettings, Settings, VocabularySettings, WorkerSettings
from core.vocabulary_store import VocabularyCreate, VocabularyStore

OWNER = "clinic-a"


def store_for(client: redis.Redis, **quota: float) -> VocabularyStore:
    settings = Settings(worker=WorkerSettings(vocabulary=VocabularySettings(custom_ttl_seconds=3600)),
                        quota=QuotaSettings(**quota))
    return VocabularyStore.for_settings(client, settings)


def test_a_keys_vocabularies_expire_unless_stored_read_or_used(clean_redis: redis.Redis) -> None:
    store = store_for(clean_redis)
    created = store.create(OWNER, VocabularyCreate(name="GI", phrases=["sessile"]))
    key = keys.vocabularies_key(OWNER)
    assert 3590 < clean_redis.ttl(key) <= 3600
    clean_redis.expire(key, 10)
    assert [p.phrase for p in store.phrases_for_job(OWNER, created.id)] == ["sessile"]
    assert clean_redis.ttl(key) > 3590  # used by a job: kept another TTL


def test_storing_a_vocabulary_is_refused_503_over_the_memory_ceiling(clean_redis: redis.Redis) -> None:
    store = store_for(clean_redis, max_redis_memory_mb=0.001, busy_retry_seconds=20)
    with pytest.raises(Overloaded) as refused:
        store.create(OWNER, VocabularyCreate(name="GI", phrases=["sessile"]))
    assert (refused.value.code, http_status_of(refused.value), refused.value.retry_after) == ("storage_full", 503, 20)
    assert refused.value.message.startswith("the job store holds ")
    message = refused.value.message
    assert "new vocabularies are refused above 0.0 MB until running jobs finish — retry in 20 s" in message
    assert not clean_redis.exists(keys.vocabularies_key(OWNER))
