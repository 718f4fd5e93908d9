"""`GET /v1/quality`: a key's quality measures over its own completed jobs (run by the worker's job run
with the fake transcriber), as JSON and CSV, outliving the transcripts, never another key's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from api.guards import tenant_for
from core import keys
from core.settings import Settings
from tests.fakes import FakeTranscriber, Harness
from tests.integration.test_quotas import KEYS, LiveApi, auth, submitted
from worker.jobs.run import RunOutcome
from worker.schedule.loop import run_job

REACHED = ("Screening colonoscopy. The scope was advanced to the cecum. BBPS 3, 3, 2. "
           "A 5 mm sessile polyp in the sigmoid colon was removed with a cold snare. Withdrawal time was 8 minutes.")
STOPPED = "Diagnostic colonoscopy. The cecum could not be reached because of looping. No polyps were seen."


@pytest.fixture()
def api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[LiveApi]:
    live = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=KEYS))
    yield live
    live.close()


def run(clean_redis: redis.Redis, api: LiveApi, key: str, said: str, note_type: str = "colonoscopy") -> str:
    job_id = submitted(api, key, note_type=note_type)
    harness = Harness(clean_redis, models=FakeTranscriber(text=said, steps=1))
    assert run_job(job_id, harness.context()) is RunOutcome.COMPLETED
    return job_id


def test_a_key_sees_its_own_measures_only_and_they_outlive_its_transcripts(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    a, b = KEYS
    first = run(clean_redis, api, a, REACHED)
    run(clean_redis, api, a, STOPPED)
    run(clean_redis, api, b, STOPPED)
    run(clean_redis, api, a, REACHED, note_type="egd")  # not a colonoscopy: not in the measures

    mine = api.get("/v1/quality", headers=auth(a)).json()
    assert mine["notes"] == 2
    assert mine["cecal_intubation"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert mine["polyp_detection"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert mine["withdrawal"]["mean_minutes"] == 8.0 and mine["missing"]["withdrawal_minutes"] == 1
    theirs = api.get("/v1/quality", headers=auth(b)).json()
    assert theirs["notes"] == 1 and theirs["cecal_intubation"]["numerator"] == 0

    # The transcript goes (erased here; expired alike); the key's numbers stay, and hold no text.
    assert api.delete(f"/v1/jobs/{first}", headers=auth(a)).status_code == 204
    assert api.get("/v1/quality", headers=auth(a)).json()["notes"] == 2
    stored = b"".join(clean_redis.zrange(keys.quality_key(tenant_for(f"Bearer {a}", KEYS)), 0, -1))
    assert stored.count(b'"record"') == 2
    assert not any(word in stored for word in (b"sigmoid", b"looping", b"snare", b"start", b"audio"))
    assert 0 < (clean_redis.ttl(keys.quality_key(tenant_for(f"Bearer {a}", KEYS))) or 0) <= 2 * 365 * 24 * 3600


def test_the_report_comes_as_csv_by_accept_or_format_and_filters_by_window_and_note_type(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    a, _ = KEYS
    run(clean_redis, api, a, REACHED)
    run(clean_redis, api, a, STOPPED, note_type="sigmoidoscopy")
    by_accept = api.get("/v1/quality", headers={**auth(a), "Accept": "text/csv"})
    by_format = api.get("/v1/quality", params={"format": "csv"}, headers=auth(a))
    assert by_accept.headers["content-type"] == "text/csv; charset=utf-8"
    assert by_accept.text == by_format.text
    assert by_accept.text.splitlines()[:3] == ["measure,value,numerator,denominator", "notes,2,,",
                                               "cecal_intubation_rate,0.5,1,2"]
    only = api.get("/v1/quality", params={"note_type": "colonoscopy"}, headers=auth(a)).json()
    assert only["notes"] == 1 and only["note_type"] == "colonoscopy"
    past = api.get("/v1/quality", params={"from": "2020-01-01", "to": "2020-12-31"}, headers=auth(a)).json()
    assert past["notes"] == 0 and past["cecal_intubation"]["rate"] is None
    assert api.get("/v1/quality", params={"from": "2020-02-01", "to": "2020-01-01"},
                   headers=auth(a)).status_code == 400
    assert api.get("/v1/quality", params={"to": "2026-13-45"}, headers=auth(a)).status_code == 400
    assert api.get("/v1/quality", params={"to": "0"}, headers=auth(a)).status_code == 422
    assert api.get("/v1/quality").status_code == 401


def test_records_older_than_the_quality_retention_are_dropped_as_new_ones_come(clean_redis: redis.Redis) -> None:
    from core.job_participants import Ended
    from core.jobs import JobStatus
    from core.quality_records import QualityRecords, read_records
    from findings.quality import QualityRecord

    records = QualityRecords(retention_seconds=3600)
    for job_id, now in (("old", 1000.0), ("new", 1000.0 + 3601)):
        pipe = clean_redis.pipeline()
        records.on_end(pipe, Ended(job_id=job_id, status=JobStatus.COMPLETED, tenant="t", now=now, callback=None,
                                   quality=("colonoscopy", QualityRecord(cecum_reached=job_id == "new"))))
        pipe.execute()
    assert read_records(clean_redis, "t", 0, 10**10) == [QualityRecord(cecum_reached=True)]
    assert 0 < clean_redis.ttl(keys.quality_key("t")) <= 3600
