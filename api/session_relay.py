"""A session's events from Redis to a client (its WebSocket or its SSE stream), until they end.

Each stream reads the session's Redis stream itself (a blocking XREAD through the process's bounded
async pool) and looks now and then (`look`) at what else ends it: its session gone, its token expired,
its writer replaced. The event that ends a stream that way is not one of the session's, so it has no `id`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import redis
import redis.asyncio

from api.stream_leases import StreamLease
from core import keys
from core.errors import ErrorCode, InvalidInput

log = logging.getLogger("endoscribe.api")

TERMINAL = {"ended"}
_EVENT_ID = re.compile(r"([0-9]{1,20})(-[0-9]{1,20})?", re.ASCII)
LOOK_EVERY_SECONDS = 2.0
"""How often a stream renews its lease and checks that its session (and its writer hold) is still there."""

Looker = Callable[[], Awaitable[dict[str, Any] | None]]
"""A stream's periodic check: the event that ends it, or None to go on."""


def closing(code: str, message: str) -> dict[str, Any]:
    """An event that ends a stream without being in the session's event stream (so it has no id)."""
    return {"type": "error", "code": code, "message": message}


UNAVAILABLE = closing(ErrorCode.UNAVAILABLE, "the session store cannot serve this stream now; reconnect in a few "
                                     "seconds (with after=<the last event id>)")
GONE = closing(ErrorCode.SESSION_GONE, "the session expired or was erased")


def event_id(value: str) -> str:
    """`after` / `Last-Event-ID` as a Redis stream id (`<ms>` or `<ms>-<n>`), or 400."""
    found = _EVENT_ID.fullmatch(value)
    if found is None or any(int(part) >= 2**64 for part in value.split("-")):
        raise InvalidInput(f"after / Last-Event-ID must be an event id such as 1718000000000-0 (the `id` of the "
                           f"last event seen), or 0 for all; got {value[:40]!r}", code=ErrorCode.INVALID_AFTER)
    return value


def look_every(lease: StreamLease) -> float:
    """How often a stream looks: often enough to renew its lease well before it lapses."""
    return min(LOOK_EVERY_SECONDS, lease.seconds / 3)


async def session_events(client: redis.asyncio.Redis, session_id: str, after: str, look: Looker | None = None,
                         every: float = LOOK_EVERY_SECONDS) -> AsyncIterator[dict[str, Any]]:
    """The session's events after stream id `after` ("0": all), each with its `id`, until `ended`; or
    until `look` (every `every` seconds) gives an event that ends the stream, or Redis fails
    (`unavailable`): that last event has no `id`."""
    key = keys.session_events_key(session_id)
    last = after or "0"
    looked = time.monotonic()
    while True:
        try:
            found = await client.xread({key: last}, count=100, block=1000)
        except redis.RedisError as exc:
            log.warning("live session events not readable: %s", exc.__class__.__name__)
            yield UNAVAILABLE
            return
        for _, entries in cast(list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]], found or []):
            for entry_id, fields in entries:
                last = entry_id.decode()
                event = {**json.loads(fields[b"e"]), "id": last}
                yield event
                if event["type"] in TERMINAL:
                    return
        if look is not None and time.monotonic() - looked >= every:
            looked = time.monotonic()
            try:
                ending = await look()
            except redis.RedisError:
                ending = UNAVAILABLE
            if ending is not None:
                yield ending
                return
