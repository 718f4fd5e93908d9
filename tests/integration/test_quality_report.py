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


def _record_at(client: redis.Redis, tenant: str, job_id: str, day: str, record: object,
               note_type: str = "colonoscopy") -> None:
    from datetime import UTC, datetime

    from core.job_participants import Ended
    from core.jobs import JobStatus
    from core.quality_records import QualityRecords

    now = datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp()
    pipe = client.pipeline()
    QualityRecords().on_end(pipe, Ended(job_id=job_id, status=JobStatus.COMPLETED, tenant=tenant, now=now,
                                        callback=None, quality=(note_type, record)))  # type: ignore[arg-type]
    pipe.execute()


def test_a_bucketed_report_has_the_measures_of_each_calendar_week_or_month_clipped_to_the_window(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    from findings.quality import QualityRecord

    a, _ = KEYS
    tenant = tenant_for(f"Bearer {a}", KEYS)
    # 2026-11-02 is a Monday: the window starts mid-week, on Wednesday 2026-10-28.
    for job_id, day, reached in (("j1", "2026-10-28", True), ("j2", "2026-11-01", False),
                                 ("j3", "2026-11-03", True), ("j4", "2026-11-20", True), ("j5", "2026-12-01", True)):
        _record_at(clean_redis, tenant, job_id, day, QualityRecord(cecum_reached=reached))
    window = {"from": "2026-10-28", "to": "2026-11-20"}

    weekly = api.get("/v1/quality", params={**window, "bucket": "week"}, headers=auth(a)).json()
    monthly = api.get("/v1/quality", params={**window, "bucket": "month"}, headers=auth(a)).json()
    plain = api.get("/v1/quality", params=window, headers=auth(a)).json()

    assert weekly["notes"] == 4 and weekly["bucket"] == "week"  # 2026-12-01 is outside the window
    assert [(p["start"], p["end"], p["notes"], p["cecal_intubation"]["numerator"]) for p in weekly["periods"]] == [
        ("2026-10-28", "2026-11-01", 2, 1), ("2026-11-02", "2026-11-08", 1, 1),
        ("2026-11-09", "2026-11-15", 0, 0), ("2026-11-16", "2026-11-20", 1, 1)]
    assert weekly["periods"][2]["cecal_intubation"] == {"numerator": 0, "denominator": 0, "rate": None}
    assert [(p["start"], p["end"], p["notes"]) for p in monthly["periods"]] == [
        ("2026-10-28", "2026-10-31", 1), ("2026-11-01", "2026-11-20", 3)]
    assert plain["periods"] is None and plain["bucket"] is None
    assert {k: v for k, v in weekly.items() if k not in ("bucket", "periods")} == \
        {k: v for k, v in plain.items() if k not in ("bucket", "periods")}


def test_the_report_names_its_targets_with_their_sources(api: LiveApi) -> None:
    report = api.get("/v1/quality", headers=auth(KEYS[0])).json()

    lines = {(t["measure"], t["threshold"]): t for t in report["targets"]}
    assert set(lines) == {("cecal_intubation", 0.95), ("cecal_intubation", 0.9), ("withdrawal.mean_minutes", 8.0),
                          ("withdrawal.mean_minutes", 6.0), ("adequate_preparation", 0.9),
                          ("polyp_detection", 0.35), ("screening_polyp_detection", 0.25)}
    assert lines[("withdrawal.mean_minutes", 6.0)]["source"].startswith("Rex DK et al. Quality indicators for "
                                                                         "colonoscopy. Gastrointest Endosc 2015")
    assert all(t["comparison"] == ">=" and t["label"] and t["population"] for t in report["targets"])


def test_a_bucketed_csv_gives_each_row_its_period_the_whole_window_first(
    api: LiveApi, clean_redis: redis.Redis,
) -> None:
    from findings.quality import QualityRecord

    a, _ = KEYS
    tenant = tenant_for(f"Bearer {a}", KEYS)
    _record_at(clean_redis, tenant, "j1", "2026-11-03", QualityRecord(cecum_reached=True))
    _record_at(clean_redis, tenant, "j2", "2026-11-10", QualityRecord(cecum_reached=False))

    csv = api.get("/v1/quality", params={"from": "2026-11-02", "to": "2026-11-15", "bucket": "week",
                                         "format": "csv"}, headers=auth(a)).text.splitlines()

    assert csv[0] == "from,to,measure,value,numerator,denominator"
    assert [line for line in csv if ",cecal_intubation_rate," in line] == [
        "2026-11-02,2026-11-15,cecal_intubation_rate,0.5,1,2", "2026-11-02,2026-11-08,cecal_intubation_rate,1.0,1,1",
        "2026-11-09,2026-11-15,cecal_intubation_rate,0.0,0,1"]


@pytest.mark.parametrize(("params", "says"), [
    ({"from": "2000-01-01", "to": "2026-01-01", "bucket": "week"}, "narrow the window or send bucket=month"),
    ({"from": "1000-01-01", "to": "2026-01-01", "bucket": "month"}, "more than 260 months"),
    ({"to": "9999-12-31"}, "past the last day a window can count (9999-12-30)"),
])
def test_a_window_the_report_cannot_count_is_refused_with_what_to_send(
    api: LiveApi, params: dict[str, str], says: str,
) -> None:
    refused = api.get("/v1/quality", params=params, headers=auth(KEYS[0]))

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_input" and says in refused.json()["error"]["message"]


def test_the_widest_windows_the_report_can_count_are_answered(api: LiveApi) -> None:
    widest = [{"from": "0001-01-01", "to": "9999-12-30"},
              {"from": "9999-01-01", "to": "9999-12-30", "bucket": "week"},
              {"from": "9990-01-01", "to": "9999-12-30", "bucket": "month"}]
    answers = [api.get("/v1/quality", params=params, headers=auth(KEYS[0])) for params in widest]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[1].json()["periods"][-1] == {**answers[1].json()["periods"][-1], "start": "9999-12-27",
                                                "end": "9999-12-30", "notes": 0}


def test_a_live_session_that_ends_counts_in_its_keys_quality_numbers_like_any_job(clean_redis: redis.Redis) -> None:
    from core.quality_records import read_records
    from core.session_store import SessionStore
    from findings.quality import QualityRecord
    from tests.fakes import tone_pcm
    from tests.integration.test_live_desk import context, drive, new_session, stream
    from worker.live.desk import LiveDesk

    harness = Harness(clean_redis, models=FakeTranscriber(text=REACHED, steps=1))
    store = SessionStore(harness.client, 3600)
    session_id = new_session(store, note_type="colonoscopy")  # owned by "owner-1", its key's tenant
    desk = LiveDesk(context(harness), harness.models.info(), store)
    stream(store, session_id, tone_pcm(1.0), desk, harness)
    store.request_end(session_id, "end")
    drive(desk, harness)
    state = store.get(session_id)
    assert state is not None and read_records(clean_redis, "owner-1", 0, 10**10) == []

    assert run_job(state.meta.job_id, harness.context()) is RunOutcome.COMPLETED

    assert read_records(clean_redis, "owner-1", 0, 10**10) == [QualityRecord(
        indication="screening", cecum_reached=True, bbps=(3, 3, 2), withdrawal_minutes=8.0, polyps=1)]
