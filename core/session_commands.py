"""A live session's client commands: what its client asked for with a button or a key, in order with its audio.

The API pushes each command with the length of the audio stored when it came (one script, so it is
placed after every chunk acknowledged before it and before every chunk after it); the session's worker
applies it once every utterance that started before that point is final (`worker.live.commanding`),
and records that it did with the command's events, at once, while it holds the session's lease; the
session's job applies the same list at the same audio times (`JobOptions.client_commands`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import redis

from core import keys
from core.job_codec import text
from core.jobs import ClientCommand
from core.redis_calls import Lua, as_int, as_texts
from core.session_records import BYTES_PER_SECOND, EVENTS_KEPT, encode_event

MAX_COMMANDS = 5000
"""Commands one session takes: far more than a dictation needs, and a bound on what a client can store."""

_PUSH = Lua("""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'open' then return -2 end
local count = tonumber(redis.call('HGET', KEYS[1], 'commands') or '0')
if count >= tonumber(ARGV[3]) then return -3 end
redis.call('RPUSH', KEYS[2], redis.call('HGET', KEYS[1], 'audio_bytes') .. ' ' .. ARGV[1])
redis.call('HSET', KEYS[1], 'commands', count + 1)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return count + 1
""")
# Applied while `holder` holds the lease: the count, what a worker taking over replays, and the events.
_APPLIED_IF_HOLDER = Lua("""
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'commands_applied', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
for i = 7, #ARGV do redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[i]) end
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[6]) then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
return 1
""")


class Pushed(IntEnum):
    """What `push_command` did (a positive count: stored, the session's commands so far)."""

    MISSING = -1
    CLOSED = -2
    TOO_MANY = -3


@dataclass(frozen=True)
class Replayed:
    """A client command a worker applied, as `commit_command` recorded it for the next one."""

    index: int
    finals: int
    """Finals heard before it."""
    command: ClientCommand


class SessionCommands:
    """A session's client commands (a base of `SessionStore`)."""

    redis: redis.Redis
    keep_ms: int

    def push_command(self, session_id: str, command: dict[str, Any]) -> int:
        """Store a command at the session's audio so far: its commands' count, or a `Pushed` refusal."""
        return as_int(_PUSH(self.redis, [keys.session_key(session_id), keys.session_commands_key(session_id)],
                            json.dumps(command, separators=(",", ":")), self.keep_ms, MAX_COMMANDS))

    def client_commands(self, session_id: str, start: int = 0) -> list[ClientCommand]:
        """The session's client commands from number `start` on, in the order they came."""
        return [read_command(raw) for raw in as_texts(self.redis.lrange(keys.session_commands_key(session_id),
                                                                        start, -1))]

    def commit_command(self, session_id: str, holder: str, index: int, replay: Replayed | None,
                       events: list[dict[str, Any]]) -> bool:
        """Record that command `index` was applied (and how to replay it) and tell its events, at once,
        while `holder` holds the session's lease."""
        said = ("", "") if replay is None else (
            f"c{index}", json.dumps([replay.finals, replay.command.model_dump(exclude_none=True)]))
        return bool(_APPLIED_IF_HOLDER(
            self.redis, [keys.session_key(session_id), keys.session_lease_key(session_id),
                         keys.session_events_key(session_id), keys.session_said_key(session_id)],
            holder, index + 1, *said, EVENTS_KEPT, self.keep_ms, *(encode_event(e) for e in events)))


def read_command(raw: str) -> ClientCommand:
    """A stored command: the audio stored when it came (bytes), then the client's JSON."""
    at, _, body = raw.partition(" ")
    return ClientCommand.model_validate({**json.loads(body), "at": int(at) / BYTES_PER_SECOND})


def replayed(said: Mapping[Any, Any]) -> list[Replayed]:
    """The client commands a worker applied, from a session's `said` hash (HGETALL), in the order they were."""
    found = [Replayed(int(name[1:]), *_entry(v)) for k, v in said.items() if (name := text(k)).startswith("c")]
    return sorted(found, key=lambda r: r.index)


def _entry(raw: bytes | str) -> tuple[int, ClientCommand]:
    finals, command = json.loads(raw)
    return int(finals), ClientCommand.model_validate(command)
