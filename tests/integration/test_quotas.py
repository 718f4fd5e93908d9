"""Per-key quotas and global backpressure: the app served by uvicorn in this process, on a real redis-server.

Each test builds the app with its own limits, small enough to reach with a few requests, and talks to it
over loopback HTTP. Jobs only queue (no worker): a test ends them the way a worker or a client would,
through the job store or the API.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI

from api.guards import tenant_for
from api.main import create_app
from api.quotas import Quotas
from core import keys
from core.job_store import Claim, JobStore, utcnow
from core.jobs import JobRecord, JobStatus
from core.quota_store import seconds_to_next_day
from core.settings import QuotaSettings, Settings, WebhookSettings
from tests.jobs import FIXTURES
from tests.polling import eventually
from tests.services import TEST_WEBHOOK_SECRET, free_port

AUDIO = (FIXTURES / "summary.ogg").read_bytes()
KEYS = ["clinic-a-key", "clinic-b-key"]


class LiveApi(httpx.Client):
    """A client of the app served by uvicorn in a thread of this process, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        if settings.api_keys and not settings.public_url:  # required with keys: URLs never come from Host
            settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{self.port}"})
        self.app: FastAPI = create_app(settings)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        eventually(lambda: self.server.started, 10, "api", interval=0.01)
        super().__init__(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def close(self) -> None:
        super().close()
        self.server.should_exit = True
        self.thread.join(10)


MakeApi = Callable[..., LiveApi]


@pytest.fixture()
def make_api(clean_redis: redis.Redis, own_redis_url: str) -> Iterator[MakeApi]:
    """Serve the app with some quota settings (everything else default)."""
    started: list[LiveApi] = []

    def make(api_keys: list[str] | None = None, max_upload_mb: float = 500, **quota: Any) -> LiveApi:
        webhook = WebhookSettings(secret=TEST_WEBHOOK_SECRET, allow_private=True, allow_http=True)
        settings = Settings(REDIS_URL=own_redis_url, api_keys=api_keys or [], max_upload_mb=max_upload_mb,
                            webhook=webhook, quota=QuotaSettings(**quota), dev_mode=not api_keys)
        started.append(LiveApi(settings))
        return started[-1]

    yield make
    for api in started:
        api.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(api: LiveApi, key: str | None = None, **fields: str) -> httpx.Response:
    return api.post("/v1/jobs", files={"file": ("a.ogg", AUDIO)}, data=fields, headers=auth(key) if key else {})


def submitted(api: LiveApi, key: str | None = None, **fields: str) -> str:
    response = submit(api, key, **fields)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def refusal(response: httpx.Response) -> tuple[int, int, dict[str, Any]]:
    """Status, Retry-After (seconds) and body of a refusal."""
    return response.status_code, int(response.headers["retry-after"]), response.json()


def run_to_end(store: JobStore, job_id: str, status: JobStatus, audio_seconds: float | None = None) -> None:
    """What a worker does with a job: claim it, learn its duration, end it."""
    assert store.claim(job_id, "run", "worker-1", 60, 3) is Claim.CLAIMED
    if audio_seconds is not None:
        assert store.update(job_id, "run", audio_seconds=audio_seconds)
    assert store.end(job_id, "run", status)


# ---- jobs in flight ----------------------------------------------------------------------------


def test_a_key_over_its_jobs_in_flight_is_refused_with_429_naming_the_limit(make_api: MakeApi) -> None:
    api = make_api(max_jobs_in_flight=2)
    submitted(api), submitted(api)

    assert refusal(submit(api)) == (429, 30, {"error": {
        "code": "too_many_jobs_in_flight",
        "message": "2 jobs in flight; the limit is 2 per key — wait for some to finish (retry in 30 s)"}})


def test_each_key_has_its_own_jobs_in_flight(make_api: MakeApi) -> None:
    api = make_api(api_keys=KEYS, max_jobs_in_flight=1)
    submitted(api, KEYS[0])

    assert submit(api, KEYS[0]).status_code == 429
    assert submit(api, KEYS[1]).status_code == 202
    assert submit(api, KEYS[1]).status_code == 429


def test_a_place_comes_back_whenever_a_job_ends_however_it_ends(
    make_api: MakeApi, clean_redis: redis.Redis
) -> None:
    api, store = make_api(max_jobs_in_flight=2), JobStore(clean_redis, 3600)
    first, second = submitted(api), submitted(api)
    assert submit(api).status_code == 429

    assert api.delete(f"/v1/jobs/{first}").json()["status"] == "cancelled"  # a queued job, cancelled
    third = submitted(api)
    assert submit(api).status_code == 429

    run_to_end(store, second, JobStatus.COMPLETED)  # finished by a worker
    fourth = submitted(api)
    assert submit(api).status_code == 429

    run_to_end(store, third, JobStatus.FAILED)  # failed by a worker
    assert submit(api).status_code == 202
    # An erased finished job was already counted out: erasing it frees nothing twice.
    assert api.delete(f"/v1/jobs/{second}").status_code == 204
    assert submit(api).status_code == 429
    assert store.get(fourth).status == JobStatus.QUEUED


def test_a_job_that_vanished_while_open_stops_counting(make_api: MakeApi, clean_redis: redis.Redis) -> None:
    api = make_api(max_jobs_in_flight=1)
    job_id = submitted(api)
    assert submit(api).status_code == 429

    # Its record expired while it was still queued (or the submitting process died before storing it):
    # nothing will ever end it. Once the entry is older than a submission could take, it is not counted.
    clean_redis.delete(keys.job_key(job_id))
    clean_redis.zadd(keys.tenant_jobs_key(""), {job_id: time.time() - 120})

    assert submit(api).status_code == 202


def test_jobs_stored_before_the_per_key_sets_count_against_their_key_once_the_api_starts(
    make_api: MakeApi, clean_redis: redis.Redis
) -> None:
    store, owner = JobStore(clean_redis, 3600), tenant_for(f"Bearer {KEYS[0]}", KEYS)
    queued = [str(uuid.uuid4()) for _ in range(3)]
    for job_id in queued:
        store.create(JobRecord(id=job_id, created_at=utcnow(), tenant=owner))
    store.cancel(queued[2])
    # What an earlier version left: the jobs, and no per-key set.
    clean_redis.delete(keys.tenant_jobs_key(owner))

    api = make_api(api_keys=KEYS, max_jobs_in_flight=2)

    assert clean_redis.zrange(keys.tenant_jobs_key(owner), 0, -1) == sorted(q.encode() for q in queued[:2])
    assert refusal(submit(api, KEYS[0]))[2]["error"]["code"] == "too_many_jobs_in_flight"
    assert submit(api, KEYS[1]).status_code == 202
    # Once per Redis: a later start leaves the sets to the job store.
    clean_redis.delete(keys.tenant_jobs_key(owner))
    make_api(api_keys=KEYS, max_jobs_in_flight=2)
    assert clean_redis.exists(keys.tenant_jobs_key(owner)) == 0


def test_concurrent_submissions_of_one_key_cannot_pass_its_limit_together(clean_redis: redis.Redis) -> None:
    quotas = Quotas(QuotaSettings(max_jobs_in_flight=3), clean_redis)
    admitted: list[str] = []
    barrier = threading.Barrier(12)

    def submit_one() -> None:
        job_id = str(uuid.uuid4())
        barrier.wait()
        try:
            quotas.reserve("clinic-a", job_id)
            admitted.append(job_id)
        except Exception:  # noqa: BLE001 - refused
            pass

    threads = [threading.Thread(target=submit_one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(admitted) == 3
    assert clean_redis.zcard(keys.tenant_jobs_key("clinic-a")) == 3


def test_a_submission_that_is_not_stored_or_not_sent_gives_its_place_back(
    make_api: MakeApi, clean_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(max_jobs_in_flight=1)

    def fail(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("connection refused")

    for component, method in ((api.app.state.store, "create"), (api.app.state.celery, "send_task")):
        with monkeypatch.context() as patch:
            patch.setattr(component, method, fail)
            assert submit(api).status_code == 503
        assert clean_redis.zcard(keys.tenant_jobs_key("")) == 0, method
    assert submit(api).status_code == 202


# ---- audio hours per day -----------------------------------------------------------------------


def test_a_key_over_its_daily_audio_hours_is_refused_until_midnight_utc(
    make_api: MakeApi, clean_redis: redis.Redis
) -> None:
    api, store = make_api(api_keys=KEYS, max_audio_hours_per_day=1), JobStore(clean_redis, 3600)
    first, second = submitted(api, KEYS[0]), submitted(api, KEYS[0])
    run_to_end(store, first, JobStatus.COMPLETED, audio_seconds=1800)
    assert submit(api, KEYS[0]).status_code == 202  # half an hour used
    # Charged when the worker learnt the duration, whatever the outcome.
    run_to_end(store, second, JobStatus.FAILED, audio_seconds=1800)

    status, retry_after, body = refusal(submit(api, KEYS[0]))

    assert status == 429 and abs(retry_after - seconds_to_next_day(time.time())) < 5
    hours, minutes = retry_after // 3600, retry_after % 3600 // 60
    assert body == {"error": {
        "code": "daily_audio_exceeded",
        "message": "this key had 1.00 hours of audio transcribed today; the limit is 1 hours per key per day "
                   f"(UTC) — retry after midnight UTC, in {hours} h {minutes} min"}}
    assert submit(api, KEYS[1]).status_code == 202  # the other key's day is its own


# ---- request rate ------------------------------------------------------------------------------


def test_a_key_over_its_request_rate_is_refused_and_other_keys_are_not(make_api: MakeApi) -> None:
    api = make_api(api_keys=KEYS, request_rate="3/minute")
    missing = f"/v1/jobs/{uuid.uuid4()}"
    for _ in range(3):
        assert api.get(missing, headers=auth(KEYS[0])).status_code == 404
    assert api.get("/health").status_code == 200  # outside /v1: not counted

    status, retry_after, body = refusal(api.get(missing, headers=auth(KEYS[0])))

    assert status == 429 and 1 <= retry_after <= 60
    assert body == {"error": {
        "code": "request_rate_exceeded",
        "message": f"too many requests from this key; the limit is 3 per 1 minute per key — retry in {retry_after} s"}}
    assert submit(api, KEYS[0]).status_code == 429  # a submission too, before its upload is read
    assert api.get(missing, headers=auth(KEYS[1])).status_code == 404


# ---- global backpressure -----------------------------------------------------------------------


def test_submissions_over_the_queue_depth_get_503_while_reads_go_on(
    make_api: MakeApi, clean_redis: redis.Redis
) -> None:
    api = make_api(api_keys=KEYS, max_queue_depth=2, busy_retry_seconds=20)
    first, _ = submitted(api, KEYS[0]), submitted(api, KEYS[1])

    assert refusal(submit(api, KEYS[1])) == (503, 20, {"error": {
        "code": "queue_full",
        "message": "2 jobs are queued or processing; the limit is 2 for the whole service — retry in 20 s"}})
    assert api.get(f"/v1/jobs/{first}", headers=auth(KEYS[0])).json()["status"] == "queued"

    run_to_end(JobStore(clean_redis, 3600), first, JobStatus.COMPLETED)
    assert submit(api, KEYS[1]).status_code == 202



def test_at_redis_maxmemory_reads_go_on_and_submissions_are_refused(
    make_api: MakeApi, clean_redis: redis.Redis
) -> None:
    api = make_api()
    job_id = submitted(api)
    used = int(clean_redis.info("memory")["used_memory"])
    clean_redis.config_set("maxmemory", str(used // 2))  # every write refused from here on
    try:
        read = api.get(f"/v1/jobs/{job_id}")
        status, retry_after, body = refusal(submit(api))
    finally:
        clean_redis.config_set("maxmemory", "0")

    assert read.status_code == 200 and read.json()["status"] == "queued"
    assert (status, retry_after, body["error"]["code"]) == (503, 30, "storage_full")

MEMORY_REFUSAL = (r"the job store holds \d+\.\d MB; new jobs are refused above 0\.5 MB until running jobs finish "
                  r"— retry in 30 s")


def test_submissions_over_the_redis_memory_ceiling_get_503(make_api: MakeApi) -> None:
    api = make_api(max_redis_memory_mb=0.5)  # a fresh redis-server uses about 1 MB

    status, retry_after, body = refusal(submit(api))

    assert (status, retry_after, body["error"]["code"]) == (503, 30, "storage_full")
    assert re.fullmatch(MEMORY_REFUSAL, body["error"]["message"]), body


def test_submissions_over_a_share_of_redis_maxmemory_get_503(make_api: MakeApi, clean_redis: redis.Redis) -> None:
    api = make_api(max_redis_memory_fraction=0.005)
    assert submit(api).status_code == 202  # no maxmemory: a share of this host's memory, far away
    clean_redis.config_set("maxmemory", str(100 * 2**20))  # 0.5% of it is 0.5 MB
    try:
        status, retry_after, body = refusal(submit(api))
    finally:
        clean_redis.config_set("maxmemory", "0")

    assert (status, retry_after, body["error"]["code"]) == (503, 30, "storage_full")
    assert re.fullmatch(MEMORY_REFUSAL, body["error"]["message"]), body


# ---- webhook redelivery ------------------------------------------------------------------------


def ended_job_with_callback(api: LiveApi, key: str) -> str:
    job_id = submitted(api, key, callback_url="http://127.0.0.1:9/hook")
    assert api.delete(f"/v1/jobs/{job_id}", headers=auth(key)).json()["status"] == "cancelled"
    return job_id


def test_redelivery_is_limited_per_job(make_api: MakeApi) -> None:
    api = make_api(api_keys=KEYS)
    job_id, other = ended_job_with_callback(api, KEYS[0]), ended_job_with_callback(api, KEYS[0])
    redeliver = f"/v1/jobs/{job_id}/webhook/redeliver"
    # Asking for someone else's job, or one that has not ended, spends nothing.
    for _ in range(3):
        assert api.post(redeliver, headers=auth(KEYS[1])).status_code == 404
    assert api.post(redeliver, headers=auth(KEYS[0])).status_code == 202

    status, retry_after, body = refusal(api.post(redeliver, headers=auth(KEYS[0])))

    assert status == 429 and 55 <= retry_after <= 60
    assert body == {"error": {
        "code": "redeliver_rate_exceeded",
        "message": "this job's callback was redelivered too recently; the limit is 1 per 1 minute per job — "
                   f"retry in {retry_after} s"}}
    assert api.post(f"/v1/jobs/{other}/webhook/redeliver", headers=auth(KEYS[0])).status_code == 202


def test_a_running_jobs_redelivery_conflict_spends_nothing(make_api: MakeApi, clean_redis: redis.Redis) -> None:
    api = make_api()
    job_id = submitted(api, callback_url="http://127.0.0.1:9/hook")
    redeliver = f"/v1/jobs/{job_id}/webhook/redeliver"
    assert api.post(redeliver).json()["error"]["code"] == "job_queued"

    run_to_end(JobStore(clean_redis, 3600), job_id, JobStatus.COMPLETED)

    assert api.post(redeliver).status_code == 202
    assert api.post(redeliver).status_code == 429


# ---- before the body ---------------------------------------------------------------------------


def post_headers_only(api: LiveApi, key: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Send only the headers of a POST declaring a 2 GB upload; read the status, headers and body."""
    lines = ["POST /v1/jobs HTTP/1.1", f"Host: 127.0.0.1:{api.port}", "Content-Type: multipart/form-data; boundary=x",
             f"Content-Length: {2 * 10**9}", f"Authorization: Bearer {key}", "", ""]
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as conn:
        conn.sendall("\r\n".join(lines).encode())
        reply = b""
        while not reply.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_a_refused_submission_is_answered_before_its_upload_is_read(make_api: MakeApi) -> None:
    api = make_api(api_keys=KEYS, max_upload_mb=5000, max_jobs_in_flight=1, max_queue_depth=2)
    submitted(api, KEYS[0])

    status, headers, body = post_headers_only(api, KEYS[0])
    assert (status, headers["retry-after"], body["error"]["code"]) == (429, "30", "too_many_jobs_in_flight")

    submitted(api, KEYS[1])
    status, headers, body = post_headers_only(api, KEYS[1])
    assert (status, headers["retry-after"], body["error"]["code"]) == (503, "30", "queue_full")
