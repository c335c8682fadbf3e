"""The in-process presence store: plain dicts, right for a single hub process."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .store import Member, PresenceStore, TypingOutcome

Conn = tuple[str, str]  # (node, connection id)


@dataclass
class _Entry:
    name: str | None
    since: str
    connections: set[Conn] = field(default_factory=set)


@dataclass
class _Typing:
    told: bool = False
    last_sent: float = float("-inf")


class MemoryPresenceStore(PresenceStore):
    """Presence state in this process's memory. Nothing is shared, nothing survives a restart."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, _Entry]] = {}
        self._users: dict[str, set[Conn]] = {}
        self._typing: dict[tuple[str, str], _Typing] = {}

    async def join(self, room: str, user: str, name: str | None, node: str, connection: str, since: str) -> bool:
        members = self._rooms.setdefault(room, {})
        entry = members.get(user)
        first = entry is None
        if entry is None:
            entry = members[user] = _Entry(name=name, since=since)
        elif name:
            entry.name = name
        entry.connections.add((node, connection))
        return first

    async def leave(self, room: str, user: str, node: str, connection: str) -> bool:
        members = self._rooms.get(room, {})
        entry = members.get(user)
        if entry is None or (node, connection) not in entry.connections:
            return False
        entry.connections.discard((node, connection))
        if entry.connections:
            return False
        del members[user]
        if not members:
            self._rooms.pop(room, None)
        self._typing.pop((room, user), None)
        return True

    async def members(self, room: str) -> list[Member]:
        members = [self._member(user, entry) for user, entry in self._rooms.get(room, {}).items()]
        return sorted(members, key=lambda member: (member.since, member.user))

    async def member(self, room: str, user: str) -> Member | None:
        entry = self._rooms.get(room, {}).get(user)
        return None if entry is None else self._member(user, entry)

    @staticmethod
    def _member(user: str, entry: _Entry) -> Member:
        return Member(user=user, name=entry.name, connections=len(entry.connections), since=entry.since)

    async def recipients(self, room: str, skip_user: str) -> list[str]:
        return [
            connection
            for user, entry in self._rooms.get(room, {}).items()
            if user != skip_user
            for _, connection in entry.connections
        ]

    async def connect(self, user: str, node: str, connection: str) -> bool:
        connections = self._users.setdefault(user, set())
        first = not connections
        connections.add((node, connection))
        return first

    async def disconnect(self, user: str, node: str, connection: str) -> bool:
        connections = self._users.get(user)
        if not connections or (node, connection) not in connections:
            return False
        connections.discard((node, connection))
        if connections:
            return False
        del self._users[user]
        return True

    async def online(self, users: Iterable[str]) -> dict[str, bool]:
        return {user: bool(self._users.get(user)) for user in users}

    async def typing(self, room: str, user: str, typing: bool, now: float, throttle: float) -> TypingOutcome:
        state = self._typing.setdefault((room, user), _Typing())
        if not typing:
            if not state.told:
                return TypingOutcome.UNCHANGED
            state.told = False
            return TypingOutcome.SENT
        if now - state.last_sent < throttle:
            return TypingOutcome.THROTTLED
        state.told = True
        state.last_sent = now
        return TypingOutcome.SENT

    async def is_typing(self, room: str, user: str) -> bool:
        state = self._typing.get((room, user))
        return state is not None and state.told

    async def drop_node(self, node: str) -> None:
        for room, members in list(self._rooms.items()):
            for user, entry in list(members.items()):
                entry.connections = {conn for conn in entry.connections if conn[0] != node}
                if not entry.connections:
                    del members[user]
                    self._typing.pop((room, user), None)
            if not members:
                del self._rooms[room]
        for user, connections in list(self._users.items()):
            remaining = {conn for conn in connections if conn[0] != node}
            if remaining:
                self._users[user] = remaining
            else:
                del self._users[user]
