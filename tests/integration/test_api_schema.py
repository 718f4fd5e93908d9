"""The whole HTTP API under schemathesis: requests generated from its own OpenAPI schema, on an API with
keys (with a valid key and without one) and on one without keys (development), each a real API process
on a real Redis. No answer is a 5xx, and every answer is one the schema documents (status code, content
type, body). The session and vocabulary routes get a longer hunt besides."""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from api.main import app
from core import keys
from tests.services import Process, start_api, start_redis
from worker.celery.heartbeat import Heartbeat

KEY = "schema-test-key"
# Bounded so the whole suite adds well under a minute: every operation gets this many examples per test
# (ENDOSCRIBE_SCHEMA_EXAMPLES=500 for a longer hunt).
EXAMPLES = int(os.environ.get("ENDOSCRIBE_SCHEMA_EXAMPLES", "25"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    redis_proc, url = start_redis(tmp_path_factory.mktemp("schema-redis"))
    # A live worker's heartbeat, so /ready answers 200 (without one its 503 is the point).
    Heartbeat(redis.Redis.from_url(url), "schema-worker", 3600, lambda: {"device": "cpu"}).beat()
    yield url
    redis_proc.stop()


def _start(redis_url: str, tmp: Path, **env: str) -> tuple[Process, str]:
    # No request-rate limit and no open-session limit: they would answer most generated requests 429 and
    # hide the routes behind them (the generated POST /v1/sessions cases open sessions nobody ends).
    api_proc, base = start_api(redis_url, tmp, ENDOSCRIBE_QUOTA_REQUEST_RATE="",
                               ENDOSCRIBE_LIVE_MAX_SESSIONS_PER_KEY="0", **env)
    # The schema the tests are generated from (at collection) is the one the process serves.
    assert httpx.get(f"{base}/openapi.json").json() == app.openapi()
    return api_proc, base


@pytest.fixture(scope="module")
def api_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API with keys (production)."""
    api_proc, base = _start(redis_url, tmp_path_factory.mktemp("schema"), ENDOSCRIBE_API_KEYS=json.dumps([KEY]))
    yield base
    api_proc.stop()


@pytest.fixture(scope="module")
def open_api_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API without keys (development): every request reaches its route."""
    api_proc, base = _start(redis_url, tmp_path_factory.mktemp("schema-open"))
    yield base
    api_proc.stop()


# Loaded at collection from the app object: schemathesis' fixture-based loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(app.openapi())
# Live sessions and stored vocabularies take JSON bodies and free-form headers and queries (Last-Event-ID,
# after, token): they get a longer hunt of their own, besides their share of the whole run.
SESSIONS_AND_VOCABULARIES = schema.include(path_regex="^/v1/(sessions|vocabularies)")
DEEPER = settings(BOUNDED, max_examples=EXAMPLES * 4)
# A stream of an ended session ends at once; one that does not within this is a stream that never ends.
STREAM_TIMEOUT = 10
# Not checked: that every schema-valid request is accepted. No schema can say what is audio, or which
# job ids exist, so generated uploads (random bytes) are rightly refused 400/415 and ids answer 404.


@schema.parametrize()
@BOUNDED
def test_with_a_key_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, api_url: str
) -> None:
    case.call_and_validate(base_url=api_url, headers={"Authorization": f"Bearer {KEY}"},
                           excluded_checks=[positive_data_acceptance])


@schema.parametrize()
@BOUNDED
def test_without_a_key_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, api_url: str
) -> None:
    # The key is checked before the route, so an unknown method without a key hears 401, not 405: a
    # closed API tells anonymous clients nothing about its routes.
    case.call_and_validate(base_url=api_url, excluded_checks=[positive_data_acceptance, unsupported_method])


@schema.parametrize()
@BOUNDED
def test_without_keys_configured_every_answer_is_documented_and_none_is_a_server_error(
    case: schemathesis.Case, open_api_url: str
) -> None:
    case.call_and_validate(base_url=open_api_url, excluded_checks=[positive_data_acceptance])


class LiveSession(NamedTuple):
    id: str
    token: str


def _ended_session(base: str, redis_url: str, headers: dict[str, str]) -> LiveSession:
    """A real session whose events end (as a worker ends them), so its SSE stream is finite."""
    created = httpx.post(f"{base}/v1/sessions", json={}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    ended = {"type": "ended", "job_id": body["job_id"], "result_url": body["result_url"]}
    redis.Redis.from_url(redis_url).xadd(keys.session_events_key(body["id"]), {"e": json.dumps(ended)})
    return LiveSession(body["id"], parse_qs(urlsplit(body["events_url"]).query)["token"][0])


@pytest.fixture(scope="module")
def keyed_session(api_url: str, redis_url: str) -> LiveSession:
    return _ended_session(api_url, redis_url, {"Authorization": f"Bearer {KEY}"})


@pytest.fixture(scope="module")
def open_session(open_api_url: str, redis_url: str) -> LiveSession:
    return _ended_session(open_api_url, redis_url, {})


def _on_a_real_session(case: schemathesis.Case, session: LiveSession) -> None:
    """Point a generated session request at a real session, and half of those with a token at its real
    token: a generated id only ever hears 404, and the headers and queries must reach the stream."""
    if "session_id" in (case.path_parameters or {}):
        case.path_parameters["session_id"] = session.id
        if case.query and "token" in case.query and zlib.crc32(repr(case.query).encode()) % 2:
            case.query["token"] = session.token


@SESSIONS_AND_VOCABULARIES.parametrize()
@DEEPER
def test_sessions_and_vocabularies_with_a_key_answer_no_server_error(
    case: schemathesis.Case, api_url: str, keyed_session: LiveSession
) -> None:
    _on_a_real_session(case, keyed_session)
    case.call_and_validate(base_url=api_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=STREAM_TIMEOUT,
                           excluded_checks=[positive_data_acceptance])


@SESSIONS_AND_VOCABULARIES.parametrize()
@DEEPER
def test_sessions_and_vocabularies_without_keys_answer_no_server_error(
    case: schemathesis.Case, open_api_url: str, open_session: LiveSession
) -> None:
    _on_a_real_session(case, open_session)
    case.call_and_validate(base_url=open_api_url, timeout=STREAM_TIMEOUT, excluded_checks=[positive_data_acceptance])
