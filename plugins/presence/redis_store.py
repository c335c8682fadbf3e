"""The presence store in Redis, shared by every hub process using that Redis.

Keys (``P`` is the prefix, ``<hub prefix>:presence`` by default):

- ``P:room:<room>`` hash: user -> ``{"name", "since"}``, one entry per member;
- ``P:conns:<room>:<user>`` set of ``<node>|<connection>``: the member's connections;
- ``P:user:<user>`` set of ``<node>|<connection>``: the user's connections anywhere (online);
- ``P:typing:<room>:<user>`` hash ``told``, ``last``: what the room was last told;
- ``P:node:<node>`` set: everything counted under one process, so it can be undone;
- ``P:nodes`` sorted set: each process and the time (Redis's clock, ms) until which it is alive.

Every change that a decision depends on is one Lua script, so two processes
never both announce the same join or leave. A process renews its deadline with
:meth:`heartbeat`; one whose deadline passed (a crash: SIGKILL, a lost
machine) is reaped by any survivor (:meth:`dead_nodes`, :meth:`node_entries`),
which announces its users' leaves. The scripts name keys they build themselves,
so this store needs one Redis (or a Sentinel-managed primary), not a Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hub import decode_json, encode_json

from .store import Member, PresenceStore, TypingOutcome

# A claimed dead node is re-scored this far ahead: if its reaper dies too, another one takes over.
REAP_LEASE_MS = 60_000
TYPING_KEY_TTL = 86_400  # a safety net: typing state is deleted when its user leaves the room

_JOIN = """
local added = redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
local first = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if first == 0 and ARGV[5] ~= '' then
  local entry = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
  entry['name'] = ARGV[5]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
end
return first
"""

_LEAVE = """
local removed = redis.call('SREM', KEYS[2], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[3])
if removed == 0 or redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"""

_MEMBERS = """
local entries = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #entries, 2 do
  local count = redis.call('SCARD', ARGV[1] .. entries[i])
  if count > 0 then
    table.insert(out, entries[i]); table.insert(out, entries[i + 1]); table.insert(out, count)
  end
end
return out
"""

_RECIPIENTS = """
local users = redis.call('HKEYS', KEYS[1])
local out = {}
for _, user in ipairs(users) do
  if user ~= ARGV[2] then
    for _, conn in ipairs(redis.call('SMEMBERS', ARGV[1] .. user)) do table.insert(out, conn) end
  end
end
return out
"""

_CONNECT = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
if added == 1 and redis.call('SCARD', KEYS[1]) == 1 then return 1 end
return 0
"""

_DISCONNECT = """
local removed = redis.call('SREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if removed == 1 and redis.call('SCARD', KEYS[1]) == 0 then return 1 end
return 0
"""

_TYPING = """
local told = redis.call('HGET', KEYS[1], 'told')
if ARGV[1] == '0' then
  if told ~= '1' then return 'unchanged' end
  redis.call('HSET', KEYS[1], 'told', '0')
  return 'sent'
end
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '')
if last and tonumber(ARGV[2]) - last < tonumber(ARGV[3]) then return 'throttled' end
redis.call('HSET', KEYS[1], 'told', '1', 'last', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 'sent'
"""

_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
"""

_CLAIM_DEAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, node in ipairs(dead) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), node)
end
return dead
"""


class RedisPresenceStore(PresenceStore):
    """Presence state in Redis, right for any number of hub processes sharing it."""

    shared = True

    def __init__(self, url: str, prefix: str = "hub:presence") -> None:
        try:
            from redis import asyncio as aioredis
        except ImportError:
            raise RuntimeError('presence: a redis:// store needs the redis package (pip install "hub[redis]")') from None
        self.redis: Any = aioredis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2.0)
        self.prefix = prefix
        self._ttl_ms = 10_000
        self._scripts = {
            name: self.redis.register_script(source)
            for name, source in {
                "join": _JOIN, "leave": _LEAVE, "members": _MEMBERS, "recipients": _RECIPIENTS,
                "connect": _CONNECT, "disconnect": _DISCONNECT, "typing": _TYPING,
                "heartbeat": _HEARTBEAT, "claim": _CLAIM_DEAD,
            }.items()
        }

    # Keys -----------------------------------------------------------------

    def _room(self, room: str) -> str:
        return f"{self.prefix}:room:{room}"

    def _conns(self, room: str, user: str) -> str:
        return f"{self.prefix}:conns:{room}:{user}"

    def _user(self, user: str) -> str:
        return f"{self.prefix}:user:{user}"

    def _typing(self, room: str, user: str) -> str:
        return f"{self.prefix}:typing:{room}:{user}"

    def _node(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    @property
    def _nodes(self) -> str:
        return f"{self.prefix}:nodes"

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._scripts[name](keys=keys, args=args)

    # Rooms ---------------------------------------------------------------------

    async def join(self, room: str, user: str, name: str | None, node: str, connection: str, since: str) -> bool:
        entry = encode_json({"name": name, "since": since})
        owned = encode_json(["room", room, user, connection])
        keys = [self._room(room), self._conns(room, user), self._node(node)]
        return bool(await self._run("join", keys, [user, entry, f"{node}|{connection}", owned, name or ""]))

    async def leave(self, room: str, user: str, node: str, connection: str) -> bool:
        owned = encode_json(["room", room, user, connection])
        keys = [self._room(room), self._conns(room, user), self._node(node), self._typing(room, user)]
        return bool(await self._run("leave", keys, [user, f"{node}|{connection}", owned]))

    async def members(self, room: str) -> list[Member]:
        flat = await self._run("members", [self._room(room)], [f"{self.prefix}:conns:{room}:"])
        members = [
            _member(flat[i], flat[i + 1], int(flat[i + 2])) for i in range(0, len(flat), 3)
        ]
        return sorted(members, key=lambda member: (member.since, member.user))

    async def member(self, room: str, user: str) -> Member | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._room(room), user)
            pipe.scard(self._conns(room, user))
            raw, count = await pipe.execute()
        return None if raw is None or not count else _member(user, raw, int(count))

    async def recipients(self, room: str, skip_user: str) -> list[str]:
        conns = await self._run("recipients", [self._room(room)], [f"{self.prefix}:conns:{room}:", skip_user])
        return [conn.split("|", 1)[1] for conn in conns]

    # Online ---------------------------------------------------------------------

    async def connect(self, user: str, node: str, connection: str) -> bool:
        owned = encode_json(["user", user, connection])
        return bool(await self._run("connect", [self._user(user), self._node(node)], [f"{node}|{connection}", owned]))

    async def disconnect(self, user: str, node: str, connection: str) -> bool:
        owned = encode_json(["user", user, connection])
        return bool(await self._run("disconnect", [self._user(user), self._node(node)], [f"{node}|{connection}", owned]))

    async def online(self, users: Iterable[str]) -> dict[str, bool]:
        wanted = list(users)
        if not wanted:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in wanted:
                pipe.scard(self._user(user))
            counts = await pipe.execute()
        return {user: bool(count) for user, count in zip(wanted, counts)}

    # Typing -----------------------------------------------------------------------

    async def typing(self, room: str, user: str, typing: bool, now: float, throttle: float) -> TypingOutcome:
        args = ["1" if typing else "0", repr(now), repr(throttle), TYPING_KEY_TTL]
        return TypingOutcome(await self._run("typing", [self._typing(room, user)], args))

    async def is_typing(self, room: str, user: str) -> bool:
        return bool(await self.redis.hget(self._typing(room, user), "told") == "1")

    # Processes ----------------------------------------------------------------------

    async def heartbeat(self, node: str, ttl: float) -> None:
        self._ttl_ms = int(ttl * 1000)
        await self._run("heartbeat", [self._nodes], [node, self._ttl_ms])

    async def dead_nodes(self) -> list[str]:
        return list(await self._run("claim", [self._nodes], [REAP_LEASE_MS]))

    async def node_entries(self, node: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        rooms: list[tuple[str, str, str]] = []
        users: list[tuple[str, str]] = []
        for raw in sorted(await self.redis.smembers(self._node(node))):
            entry = decode_json(raw)
            if entry[0] == "room":
                rooms.append((entry[1], entry[2], entry[3]))
            else:
                users.append((entry[1], entry[2]))
        return rooms, users

    async def forget_node(self, node: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._nodes, node)
            pipe.delete(self._node(node))
            await pipe.execute()

    async def drop_node(self, node: str) -> None:
        """A process stopping: its connections count until a survivor reaps them after the grace period.

        Its users may reconnect to another process meanwhile; then nobody sees them leave.
        """
        await self._run("heartbeat", [self._nodes], [node, self._ttl_ms])

    async def close(self) -> None:
        await self.redis.aclose()


def _member(user: str, raw: str, connections: int) -> Member:
    entry = decode_json(raw)
    return Member(user=user, name=entry.get("name"), connections=connections, since=entry["since"])
