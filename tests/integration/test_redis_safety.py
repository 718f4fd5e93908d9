"""Every process refuses an evicting Redis at start-up (it would silently drop jobs), unless allowed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.polling import eventually
from tests.services import BIN, Process, free_port, service_env, start_redis

MESSAGE = "Redis maxmemory-policy is allkeys-lru"


@pytest.mark.parametrize("service", ["api", "deliverer", "worker"])
def test_a_process_refuses_an_evicting_redis(service: str, tmp_path: Path) -> None:
    redis_proc, url = start_redis(tmp_path, "--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru")
    commands = {
        "api": [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(free_port())],
        "deliverer": [sys.executable, "-m", "webhooks.deliverer"],
        "worker": [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-P", "solo", "-Q", "transcribe",
                   "-n", "evict@%h", "--without-mingle", "--without-gossip"],
    }
    proc = Process(commands[service], service_env(url), tmp_path / f"{service}.log")
    try:
        eventually(lambda: not proc.alive(), 90, f"{service} to refuse")
        assert proc.proc.returncode != 0
        assert MESSAGE in proc.output() and "ENDOSCRIBE_REDIS_ALLOW_EVICTION" in proc.output()
    finally:
        proc.stop()
        redis_proc.stop()


def test_allowing_eviction_starts_with_a_loud_warning(tmp_path: Path) -> None:
    redis_proc, url = start_redis(tmp_path, "--maxmemory", "1gb", "--maxmemory-policy", "volatile-lru")
    proc = Process([sys.executable, "-m", "webhooks.deliverer"],
                   service_env(url, ENDOSCRIBE_REDIS_ALLOW_EVICTION="true"), tmp_path / "deliverer.log")
    try:
        eventually(lambda: "polling" in proc.output() or not proc.alive(), 30, "deliverer")
        assert proc.alive() and "!!! Redis maxmemory-policy is volatile-lru" in proc.output()
    finally:
        proc.stop()
        redis_proc.stop()
