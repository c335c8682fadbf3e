"""Each connection's rooms, indexed, so a disconnect costs its own rooms (optimisation ``room_index``).

python-socketio's ``BaseManager.basic_disconnect`` finds a connection's rooms
by testing every room of the namespace, and there are at least two rooms per
connection (its sid's and its user's inbox): each disconnect costs the whole
table, and 2,000 clients leaving at once cost 2,000 times 4,000 lookups while
nothing else runs. :class:`RoomIndex` keeps ``sid -> rooms`` beside the
manager's ``rooms`` (through the public ``basic_enter_room`` and
``basic_leave_room`` every path goes through) and reimplements
``basic_disconnect`` on it, which means knowing the manager's ``callbacks``,
``pending_connect`` and ``pending_disconnect``: :func:`check` looks for them.
When the check fails the manager's own ``basic_disconnect`` runs.
"""

from __future__ import annotations

from typing import Any

from socketio import base_manager

from .checks import Report, method, uses

NAME = "room_index"


def check() -> None:
    """What :meth:`RoomIndex.basic_disconnect` relies on."""
    where = "socketio.base_manager.BaseManager"
    for name in ("basic_enter_room", "basic_leave_room"):
        method(base_manager.BaseManager, name, where, ("sid", "namespace", "room"))
    method(base_manager.BaseManager, "basic_disconnect", where, ("sid", "namespace"))
    uses(base_manager.BaseManager.basic_disconnect, ["rooms", "callbacks", "pending_connect", "pending_disconnect"],
         f"{where}.basic_disconnect")


class RoomIndex:
    """A python-socketio manager mixin: ``sid -> rooms`` per namespace, for a disconnect in O(its rooms)."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, set[str]]
    pending_disconnect: dict[str, set[str]]
    #: Whether ``basic_disconnect`` may use the index (the check passed).
    room_index = False

    def use_room_index(self, compat: Report) -> None:
        self.room_index = compat.enabled(NAME)

    def _rooms_of(self, namespace: str) -> dict[str, set[Any]]:
        index: dict[str, dict[str, set[Any]]] = self.__dict__.setdefault("_room_index", {})
        return index.setdefault(namespace, {})

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: Any = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._rooms_of(namespace).setdefault(sid, set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        joined = self._rooms_of(namespace).get(sid)
        if joined is not None:
            joined.discard(room)

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        if not self.room_index:
            super().basic_disconnect(sid, namespace, **kwargs)  # type: ignore[misc]
            self._rooms_of(namespace).pop(sid, None)
            return
        joined = self._rooms_of(namespace).pop(sid, set())
        if namespace not in self.rooms:
            return
        for room in list(joined):
            super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        # The rest as python-socketio's own basic_disconnect does it.
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            waiting = pending.get(namespace)
            if waiting is not None and sid in waiting:
                waiting.remove(sid)
                if not waiting:
                    del pending[namespace]
