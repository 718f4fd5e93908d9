"""Follow jobs as they run: one reader per API process for every event stream and waiting request.

Each follower could poll its job itself, but a thousand open streams would then be a thousand Redis
polling loops. Here one task reads every followed job in one pipelined round trip per interval, and
only while someone follows a job; followers are woken when their job's state is read. Polling (rather
than a pub/sub channel the worker publishes to) needs nothing from the worker and works on every
Redis, hosted ones without keyspace notifications included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import redis

from core import keys
from core.job_codec import text
from core.jobs import JobError, JobStage, JobStatus

log = logging.getLogger("endoscribe.api")

_FIELDS = ("status", "stage", "progress", "error")


@dataclass(frozen=True)
class JobState:
    """What a follower sees of a job: where it is, and how it ended."""

    status: JobStatus
    stage: JobStage
    progress: float
    error: JobError | None = None

    def public(self, job_id: str) -> dict[str, Any]:
        error = self.error.model_dump() if self.error else None
        return {"id": job_id, "status": self.status.value, "stage": self.stage.value, "progress": self.progress,
                "error": error}


def _state(values: list[bytes | None]) -> JobState | None:
    status, stage, progress, error = (text(v) if v is not None else None for v in values)
    if status is None:
        return None
    parsed = json.loads(error) if error else None
    return JobState(JobStatus(status), JobStage(stage or JobStage.QUEUED), float(progress or 0),
                    JobError.model_validate(parsed) if parsed else None)


@dataclass(eq=False)
class _Follower:
    state: JobState | None = None
    read: asyncio.Event = field(default_factory=asyncio.Event)


class JobWatcher:
    """The process's one reader of followed jobs; create it in the app's lifespan, `close` it after."""

    def __init__(self, client: redis.Redis, interval: float) -> None:
        self.redis = client
        self.interval = interval
        self._followers: dict[str, set[_Follower]] = {}
        self._someone = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def changes(self, job_id: str) -> AsyncGenerator[JobState | None, None]:
        """The job's state now, then each change, until it ends (the last state is final) or is gone
        (None, erased or expired). Raises redis errors from the first read only."""
        follower = _Follower()
        self._followers.setdefault(job_id, set()).add(follower)
        self._start()
        try:
            state = (await anyio.to_thread.run_sync(self.read, [job_id]))[0]
            while True:
                yield state
                if state is None or state.status.is_final:
                    return
                state = await self._next(follower, state)
        finally:
            followers = self._followers.get(job_id, set())
            followers.discard(follower)
            if not followers:
                self._followers.pop(job_id, None)

    async def wait_for_end(self, job_id: str, timeout: float) -> JobState | None:
        """The job's final state, or its last state if `timeout` passes first (None: it is gone)."""
        state: JobState | None = None
        async with contextlib.aclosing(self.changes(job_id)) as changes:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    async for state in changes:  # noqa: B007 - the last one is the answer
                        pass
        return state

    @staticmethod
    async def _next(follower: _Follower, current: JobState) -> JobState | None:
        """The follower's job's next state that differs from `current` (None: gone)."""
        while True:
            await follower.read.wait()
            follower.read.clear()
            if follower.state != current:
                return follower.state

    def read(self, job_ids: list[str]) -> list[JobState | None]:
        """The jobs' states in one round trip (blocking: call it in a thread)."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(keys.job_key(job_id), list(_FIELDS))
        return [_state(cast(list[bytes | None], values)) for values in pipe.execute()]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _start(self) -> None:
        self._someone.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="endoscribe-job-watcher")

    async def _run(self) -> None:
        while True:
            if not self._followers:
                self._someone.clear()
                await self._someone.wait()
            await asyncio.sleep(self.interval)
            job_ids = list(self._followers)
            if not job_ids:
                continue
            try:
                states = await anyio.to_thread.run_sync(self.read, job_ids)
            except redis.RedisError as exc:
                # Followers keep their last state; the next interval tries again.
                log.warning("job watcher could not read jobs: %s", exc.__class__.__name__)
                continue
            for job_id, state in zip(job_ids, states, strict=True):
                for follower in self._followers.get(job_id, ()):
                    follower.state = state
                    follower.read.set()
