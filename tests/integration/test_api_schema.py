"""The whole HTTP API under schemathesis: requests generated from its own OpenAPI schema, with a valid
key and without, against the real API process and a real Redis. No answer is a 5xx, and every answer
is one the schema documents (status code, content type, body)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from api.main import app
from tests.services import start_api, start_redis
from worker.heartbeat import Heartbeat

KEY = "schema-test-key"
# Bounded so the whole suite adds well under a minute: every operation gets this many examples per test
# (ENDOSCRIBE_SCHEMA_EXAMPLES=500 for a longer hunt).
EXAMPLES = int(os.environ.get("ENDOSCRIBE_SCHEMA_EXAMPLES", "25"))
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("schema")
    redis_proc, url = start_redis(tmp)
    # No request-rate limit: it would answer most generated requests 429 and hide the routes behind it.
    api_proc, base = start_api(url, tmp, ENDOSCRIBE_API_KEYS=json.dumps([KEY]), ENDOSCRIBE_QUOTA_REQUEST_RATE="")
    try:
        # The schema the tests are generated from (at collection) is the one the process serves.
        assert httpx.get(f"{base}/openapi.json").json() == app.openapi()
        # A live worker's heartbeat, so /ready answers 200 (without one its 503 is the point).
        Heartbeat(redis.Redis.from_url(url), "schema-worker", 60, lambda: {"device": "cpu"}).beat()
        yield base
    finally:
        api_proc.stop()
        redis_proc.stop()


# Loaded at collection from the app object: schemathesis' fixture-based loader does not run on pytest 9.
schema = schemathesis.openapi.from_dict(app.openapi())
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
