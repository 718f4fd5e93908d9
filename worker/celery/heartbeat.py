"""A worker's heartbeat in Redis: what `/gpu-info` lists and `/ready` counts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from core import keys
from core.job_store import utcnow

log = logging.getLogger(__name__)


class Heartbeat:
    """Writes `describe()` under the worker's key every `interval` seconds, expiring after 3 missed beats."""

    def __init__(
        self,
        client: redis.Redis,
        worker: str,
        interval: float,
        describe: Callable[[], dict[str, Any]],
        on_beat: Callable[[], None] | None = None,
    ):
        self.client = client
        self.worker = worker
        self.interval = interval
        self.describe = describe
        self.on_beat = on_beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="endoscribe-heartbeat", daemon=True)

    def start(self) -> None:
        # The thread first: a failing first beat (Redis briefly away at start-up) must not leave the
        # worker without heartbeats, and without orphan rescue, for its whole life.
        self._thread.start()
        self._beat_safely()

    def beat(self) -> None:
        payload = {**self.describe(), "worker": self.worker, "last_seen": utcnow().isoformat()}
        ttl = self.interval * 3
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.set(keys.worker_key(self.worker), json.dumps(payload), px=int(ttl * 1000))
        # The registry `/ready` and `/gpu-info` read: one entry per worker, scored by its expiry, so
        # they never SCAN the keyspace. Entries of workers that stopped beating are pruned here.
        pipe.zadd(keys.WORKERS, {self.worker: now + ttl})
        pipe.zremrangebyscore(keys.WORKERS, "-inf", now)
        pipe.execute()
        if self.on_beat is not None:
            self.on_beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 1)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.worker_key(self.worker))
        pipe.zrem(keys.WORKERS, self.worker)
        pipe.execute()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat_safely()

    def _beat_safely(self) -> None:
        try:
            self.beat()
        except redis.RedisError as exc:
            log.warning("heartbeat failed: %s", exc)
        except Exception:
            # The thread must outlive any one bad beat, or /ready and orphan rescue go with it.
            log.exception("heartbeat hook failed")
