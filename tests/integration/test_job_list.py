"""`GET /v1/jobs`: a key's own jobs, newest first, a page at a time, filtered by status; and the per-key
index behind it, on a real redis-server. No worker: jobs stay queued unless a test ends them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from core import job_history, keys
from core.job_history import JobHistory
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus
from core.settings import Settings
from tests.integration.test_quotas import KEYS, LiveApi, auth, run_to_end, submitted


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS))
    yield live
    live.close()


def listed(api: LiveApi, key: str, **params: Any) -> list[str]:
    """Every job id the key lists, following next_cursor to the end."""
    ids: list[str] = []
    cursor = None
    while True:
        response = api.get("/v1/jobs", params={**params, **({"cursor": cursor} if cursor else {})},
                           headers=auth(key))
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [job["id"] for job in page["jobs"]]
        if (cursor := page["next_cursor"]) is None:
            return ids


def test_a_key_lists_only_its_own_jobs_newest_first_a_page_at_a_time(api: LiveApi) -> None:
    a_jobs, b_jobs = [], []
    for _ in range(3):
        a_jobs.append(submitted(api, KEYS[0]))
        a_jobs.append(submitted(api, KEYS[0]))
        b_jobs.append(submitted(api, KEYS[1]))

    first = api.get("/v1/jobs", params={"limit": 4}, headers=auth(KEYS[0])).json()

    assert [job["id"] for job in first["jobs"]] == a_jobs[::-1][:4]
    assert first["jobs"][0]["status"] == "queued"
    assert first["jobs"][0]["result_url"].endswith(f"/v1/jobs/{a_jobs[-1]}/result")
    assert first["next_cursor"]
    second = api.get("/v1/jobs", params={"limit": 4, "cursor": first["next_cursor"]}, headers=auth(KEYS[0])).json()
    assert [job["id"] for job in second["jobs"]] == a_jobs[::-1][4:]
    assert second["next_cursor"] is None
    assert listed(api, KEYS[0], limit=1) == a_jobs[::-1]
    assert listed(api, KEYS[1], limit=2) == b_jobs[::-1]


def test_the_list_filters_by_status(api: LiveApi, clean_redis: redis.Redis) -> None:
    jobs = [submitted(api, KEYS[0]) for _ in range(5)]
    assert api.delete(f"/v1/jobs/{jobs[1]}", headers=auth(KEYS[0])).json()["status"] == "cancelled"
    run_to_end(JobStore(clean_redis, 3600), jobs[3], JobStatus.COMPLETED)

    assert listed(api, KEYS[0], status="queued", limit=1) == [jobs[4], jobs[2], jobs[0]]
    assert listed(api, KEYS[0], status=["cancelled", "completed"]) == [jobs[3], jobs[1]]
    assert listed(api, KEYS[1], status="completed") == []
    bad = api.get("/v1/jobs", params={"status": "done"}, headers=auth(KEYS[0]))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_erased_and_expired_jobs_leave_the_list_and_its_index(api: LiveApi, clean_redis: redis.Redis) -> None:
    kept, erased, expired = (submitted(api, KEYS[0]) for _ in range(3))
    api.delete(f"/v1/jobs/{erased}", headers=auth(KEYS[0]))  # cancelled, then erased
    assert api.delete(f"/v1/jobs/{erased}", headers=auth(KEYS[0])).status_code == 204
    clean_redis.delete(keys.job_key(expired))  # what its TTL does: nothing is told
    owner = JobStore(clean_redis, 3600).get(kept).tenant

    assert clean_redis.zscore(keys.tenant_history_key(owner), erased) is None
    assert listed(api, KEYS[0]) == [kept]
    assert clean_redis.zrange(keys.tenant_history_key(owner), 0, -1) == [kept.encode()]
    assert 0 < clean_redis.ttl(keys.tenant_history_key(owner)) <= Settings().retention_seconds


def test_a_cursor_that_was_not_given_out_is_refused(api: LiveApi) -> None:
    response = api.get("/v1/jobs", params={"cursor": "not-a-cursor"}, headers=auth(KEYS[0]))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_jobs_created_at_the_same_instant_are_each_listed_once(clean_redis: redis.Redis) -> None:
    store, history = JobStore(clean_redis, 3600), JobHistory(clean_redis, 3600)
    now = utcnow()
    same = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    for job_id in same:
        store.create(JobRecord(id=job_id, tenant="tenant", created_at=now))
    older = "00000000-0000-0000-0000-0000000000ff"
    store.create(JobRecord(id=older, tenant="tenant", created_at=now - timedelta(seconds=1)))

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = history.page("tenant", limit=2, cursor=cursor)
        seen += [r.id for r in page.jobs]
        if (cursor := page.next_cursor) is None:
            break

    assert seen == [*sorted(same, reverse=True), older]


def test_entries_older_than_the_retention_are_dropped_on_read(clean_redis: redis.Redis) -> None:
    store = JobStore(clean_redis, 3600)
    old = JobRecord(id="00000000-0000-0000-0000-000000000001", tenant="t", created_at=utcnow() - timedelta(hours=2))
    new = JobRecord(id="00000000-0000-0000-0000-000000000002", tenant="t", created_at=utcnow())
    store.create(old)
    store.create(new)

    page = JobHistory(clean_redis, 3600).page("t", limit=10)

    assert [r.id for r in page.jobs] == [new.id] and page.next_cursor is None
    assert clean_redis.zrange(keys.tenant_history_key("t"), 0, -1) == [new.id.encode()]


def test_jobs_stored_before_the_index_existed_are_indexed_once(clean_redis: redis.Redis) -> None:
    store, history = JobStore(clean_redis, 3600), JobHistory(clean_redis, 3600)
    older = JobRecord(id="00000000-0000-0000-0000-000000000001", tenant="t",
                      created_at=utcnow() - timedelta(minutes=30))
    newer = JobRecord(id="00000000-0000-0000-0000-000000000002", tenant="t", created_at=utcnow())
    other = JobRecord(id="00000000-0000-0000-0000-000000000003", tenant="u", created_at=utcnow())
    for record in (older, newer, other):
        store.create(record)
    clean_redis.delete(keys.tenant_history_key("t"), keys.tenant_history_key("u"))  # as before the upgrade

    assert history.index_stored_jobs() == 3
    assert history.index_stored_jobs() == 0
    assert [r.id for r in history.page("t", limit=10).jobs] == [newer.id, older.id]
    assert [r.id for r in history.page("u", limit=10).jobs] == [other.id]


def test_an_expired_job_at_the_end_of_a_batch_hides_no_other(
    clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_history, "BATCH", 2)
    store, now = JobStore(clean_redis, 3600), utcnow()
    ids = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    for age, job_id in enumerate(ids):
        store.create(JobRecord(id=job_id, tenant="t", created_at=now - timedelta(seconds=age)))
    clean_redis.delete(keys.job_key(ids[1]))  # its record expired: the index does not know yet

    page = JobHistory(clean_redis, 3600).page("t", limit=10)

    assert [r.id for r in page.jobs] == [ids[0], ids[2], ids[3], ids[4]]
