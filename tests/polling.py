"""Waiting in tests: one helper with a deadline, so no test waits a fixed time for something to happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import redis

T = TypeVar("T")

NOT_LISTENING: tuple[type[BaseException], ...] = (OSError, httpx.TransportError, redis.ConnectionError)
"""What asking a service that is still starting (or restarting) raises: for `ignoring`."""

INTERVAL = 0.05
"""Between two looks: short against every timeout here, long enough not to busy a core."""


def eventually(check: Callable[[], T], timeout: float, what: str | Callable[[], str], *,
               ignoring: tuple[type[BaseException], ...] = (), interval: float = INTERVAL) -> T:
    """`check()`'s first truthy result, looked for every `interval` seconds until `timeout` has passed.

    `what` names the awaited thing in the TimeoutError (a callable: what to say, made at the deadline,
    with the state then). Exceptions of the `ignoring` types mean "not yet" (a service not
    listening yet); any other propagates at once, so a check can stop the wait (a process died).
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if result := check():
                return result
        except ignoring as exc:
            last = exc
        if time.monotonic() >= deadline:
            awaited = what() if callable(what) else what
            raise TimeoutError(f"{awaited} not within {timeout} s" + (f" (last: {last!r})" if last else "")) from last
        time.sleep(interval)  # the interval between looks
