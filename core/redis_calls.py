"""Typed calls into redis-py: optimistic transactions, registered Lua scripts, and replies.

redis-py types every command's reply as "a value, or an awaitable of one" (its sync and asyncio clients
share the signatures), and `Redis.transaction` as returning a list. The casts that paper over that
live here, once, instead of at every call site.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.exceptions import WatchError
from redis.typing import EncodableT, FieldT

T = TypeVar("T")

Arg = str | bytes | int | float


def transact(client: redis.Redis, body: Callable[[Pipeline], T], *watched: str) -> T:
    """Run `body` as one optimistic transaction over `watched` and return what it returns.

    `body` reads before `pipe.multi()` (under WATCH, answered at once) and queues writes after it; a
    watched key changed by someone else before EXEC makes the whole body run again, so it must not act
    outside Redis. A body that never calls `multi` writes nothing. (`Redis.transaction` without its
    `value_from_callable` flag and the casts its signature needs.)
    """
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(*watched)
                value = body(pipe)
                pipe.execute()
                return value
            except WatchError:
                continue


class Lua:
    """A Lua script sent by its SHA (EVALSHA), loaded again when a server does not know it (NOSCRIPT):
    redis-py's `Script`, registered on the first client that runs it and run on whichever does."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._script: Script | None = None

    def __call__(self, client: redis.Redis, keys: Sequence[str], *args: Arg) -> Any:
        if self._script is None:  # a race only registers it twice: the same SHA
            self._script = client.register_script(self.source)
        return self._script(keys=keys, args=args, client=client)


def hash_fields(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """`fields` as HSET's `mapping` takes them (its key type is wider than str, and dict is invariant)."""
    mapping: dict[FieldT, EncodableT] = {}
    mapping.update(fields)
    return mapping


def as_bytes(reply: object) -> bytes | None:
    """A bulk-string reply (GET, HGET, LINDEX): bytes, or None for a missing key or field."""
    return cast(bytes | None, reply)


def as_text(reply: object) -> str | None:
    """A bulk-string reply as text; None for a missing key or field."""
    value = as_bytes(reply)
    return value.decode() if value is not None else None


def as_texts(reply: object) -> list[str]:
    """A list-of-strings reply (ZRANGE, a script's list) as text."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in cast(list[Any], reply)]


def as_optional_bytes_list(reply: object) -> list[bytes | None]:
    """An HMGET reply: one value per field asked for, None where it is missing."""
    return cast(list[bytes | None], reply)


def as_hash(reply: object) -> dict[bytes, bytes]:
    """An HGETALL reply (empty: no such key)."""
    return cast(dict[bytes, bytes], reply)


def as_scored(reply: object) -> list[tuple[bytes, float]]:
    """A WITHSCORES range reply."""
    return cast(list[tuple[bytes, float]], reply)


def as_int(reply: object) -> int:
    """An integer reply (LLEN, ZCARD, a script's number)."""
    return int(cast(int, reply))
