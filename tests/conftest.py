"""Session-wide real services (one redis-server, one worker with the bundled model, one API), and the
tiers every collected test is marked with (tests/tiers.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests import tiers
from tests.services import Process, free_port, start_api, start_redis, start_s3, start_worker

FIXTURES = Path(__file__).parent / "fixtures"
# No test depends on the caller's terminal: a console built at import (cli.app's) fixes its width from
# COLUMNS, which xdist's workers are started with (80) and a serial run from a shell may not be.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
_guard = tiers.SpawnGuard()
sys.addaudithook(_guard)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers.apply(items)
    items[:] = tiers.heaviest_first(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> object:
    # Session fixtures start inside their first test's setup, so they are guarded as that test.
    _guard.item = item
    try:
        return (yield)
    finally:
        _guard.item = None


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url(service_dir: Path) -> Iterator[str]:
    proc, url = start_redis(service_dir)
    yield url
    proc.stop()


@pytest.fixture()
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture(scope="session")
def worker_metrics_port() -> int:
    """The loopback port the session's worker serves its Prometheus metrics on."""
    return free_port()


@pytest.fixture(scope="session")
def worker(redis_url: str, service_dir: Path, worker_metrics_port: int) -> Iterator[Process]:
    proc = start_worker(redis_url, service_dir, "e2e", ENDOSCRIBE_METRICS_PORT=str(worker_metrics_port))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def api_url(redis_url: str, service_dir: Path) -> Iterator[str]:
    proc, base = start_api(redis_url, service_dir)
    yield base
    proc.stop()


@pytest.fixture()
def client(api_url: str, worker: Process) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c


@pytest.fixture()
def deliverer(redis_url: str, service_dir: Path) -> Iterator[Process]:
    from tests.services import start_deliverer

    proc = start_deliverer(redis_url, service_dir)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def own_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server for one test module, away from the session's worker and its jobs."""
    proc, url = start_redis(tmp_path_factory.mktemp("own-redis"))
    yield url
    proc.stop()


@pytest.fixture()
def clean_redis(own_redis_url: str) -> redis.Redis:
    """The module's own Redis, emptied before each test: sweeps see only this test's jobs."""
    client = redis.Redis.from_url(own_redis_url)
    client.flushdb()
    return client


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server for one test module, with an `audio` bucket."""
    proc, endpoint = start_s3(tmp_path_factory.mktemp("s3"))
    yield endpoint
    proc.stop()
