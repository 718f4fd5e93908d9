"""Open session streams, counted per API key in Redis so the limit holds across API replicas.

Each WebSocket or SSE stream holds a lease in its key's sorted set (member: the lease id, score: when
it lapses) and renews it while it runs, so the streams of a process that died stop counting once their
leases lapse. A WebSocket's lease also holds its session's writer key: one connection at a time
appends audio, and a newer one takes the key over (the older one sees that and closes, `stream_replaced`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import redis

from core import keys
from core.redis_calls import Lua, as_int

# Redis's clock, not each replica's, judges when a lease lapses.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000)"
_TAKE = Lua(_NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[3])
if limit > 0 and held >= limit then return held end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2]) end
return -1
""")
# Renew the lease (and the writer key, unless a newer connection holds it); say what ends the stream.
_LOOK = Lua(_NOW + """
if redis.call('EXISTS', KEYS[2]) == 0 then return 'gone' end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if KEYS[3] then
  local writer = redis.call('GET', KEYS[3])
  if writer and writer ~= ARGV[1] then return 'replaced' end
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
end
return 'ok'
""")
_GIVE_BACK = Lua("""
redis.call('ZREM', KEYS[1], ARGV[1])
if KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
""")


class Look(StrEnum):
    """What a stream's periodic look found."""

    OK = "ok"
    GONE = "gone"
    """The session expired or was erased."""
    REPLACED = "replaced"
    """A newer WebSocket took the session's audio over."""


@dataclass
class StreamLease:
    """One open stream's place in its key's count (and, for a WebSocket, its hold on the session's audio)."""

    client: redis.Redis
    tenant: str
    session_id: str
    seconds: float
    writer: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def take(self, limit: int) -> int | None:
        """Count this stream against its key: None, or the streams the key holds when at `limit` (0: off)."""
        held = as_int(_TAKE(self.client, self._keys(), self.id, self._ms(), limit))
        return None if held < 0 else held

    def look(self) -> Look:
        """Renew the lease; whether the session is still there and this stream still its writer."""
        found = _LOOK(self.client, self._keys(), self.id, self._ms())
        return Look(found.decode() if isinstance(found, bytes) else str(found))

    def is_writer(self) -> bool:
        """Whether no newer WebSocket holds the session's audio (checked before each chunk is stored)."""
        holder = self.client.get(keys.session_writer_key(self.session_id))
        return holder is None or holder == self.id.encode()

    def give_back(self) -> None:
        writer = [keys.session_writer_key(self.session_id)] if self.writer else []
        _GIVE_BACK(self.client, [keys.tenant_streams_key(self.tenant), *writer], self.id)

    def _keys(self) -> list[str]:
        # KEYS[2] is unused by _TAKE; it keeps the writer key at KEYS[3] in both it and _LOOK.
        names = [keys.tenant_streams_key(self.tenant), keys.session_key(self.session_id)]
        return [*names, keys.session_writer_key(self.session_id)] if self.writer else names

    def _ms(self) -> int:
        return int(self.seconds * 1000)
