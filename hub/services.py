"""Services: the Python APIs that plugins offer each other, by name, with a typed look-up.

A plugin provides an object under a name in ``hub_startup``::

    hub.services.provide("notifications", NotificationService(...))

Another plugin never imports the provider: it declares, in its own module, the
:class:`typing.Protocol` of what it needs and asks for the service under that
shape, carrying on when it is absent::

    @runtime_checkable
    class Notifier(Protocol):
        async def notify(self, users: Sequence[str], title: str, body: str) -> Mapping[str, Any]: ...

    notifier = hub.services.get("notifications", Notifier)
    if notifier is not None:
        await notifier.notify(["kim"], "Done", "Your export is ready.")

mypy checks the caller against its own protocol; at run time the provided
object is checked against it (its methods and attributes are there), so a
provider that changed shape fails with a message naming both sides instead of
an ``AttributeError`` deep in a request.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import Unavailable

if TYPE_CHECKING:
    import pluggy

T = TypeVar("T")
# Members of these bases are typing's machinery, not what a protocol asks for.
_TYPING_BASES = frozenset({"Protocol", "Generic", "object"})


class ServiceError(RuntimeError):
    """A plugin misused services: a name provided twice, or an object lacking what its user needs."""


class Services:
    """The hub's registry of services (``hub.services``).

    Services are provided while the hub starts (in ``hub_startup``), in no order
    that a plugin can rely on: look a service up when you use it, not in your own
    ``hub_startup``.
    """

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self._pm = pm
        self._entries: dict[str, tuple[object, str | None]] = {}
        # (name, class) -> checked: a runtime protocol check walks every member, and
        # routes look their service up on every request.
        self._checked: set[tuple[str, type]] = set()

    def bind(self, pm: pluggy.PluginManager) -> None:
        """Name providers after the plugins registered in ``pm`` (the hub does this once they are)."""
        self._pm = pm

    def provide(self, name: str, service: object) -> None:
        """Offer ``service`` to the other plugins as ``name``.

        Raises :class:`ServiceError` when ``name`` is taken; the message names
        the plugin that holds it and the one that asked, as far as the hub can
        tell (from the modules the calls came from).
        """
        if not isinstance(name, str) or not name:
            raise ServiceError(f"a service name is a non-empty string, not {name!r}")
        caller = sys._getframe(1).f_globals.get("__name__", "")
        plugin = self._plugin_of(caller)
        if name in self._entries:
            holder = self._entries[name][1]
            raise ServiceError(
                f"service {name!r} is provided twice: by {_describe(holder)} and by {_describe(plugin)}"
            )
        self._entries[name] = (service, plugin)

    def get(self, name: str, protocol: Callable[..., T]) -> T | None:
        """The service ``name`` as a ``protocol``, or None when no plugin provides it.

        ``protocol`` is a class: usually a ``@runtime_checkable`` :class:`typing.Protocol`
        the caller declares, or the provider's own class inside its plugin. A service
        that is not an instance of it raises :class:`ServiceError` listing what it lacks.
        """
        # Typed as a callable, not ``type[T]``: mypy refuses a Protocol where
        # ``type[T]`` is expected (error code type-abstract), and a protocol is the point.
        entry = self._entries.get(name)
        if entry is None:
            return None
        service, plugin = entry
        if not isinstance(protocol, type):
            raise ServiceError(f"services.get({name!r}, ...) needs a class or Protocol, not {protocol!r}")
        if (name, protocol) not in self._checked:
            self._check(name, service, plugin, protocol)
            self._checked.add((name, protocol))
        return service  # type: ignore[return-value]  # checked above against ``protocol``

    def require(self, name: str, protocol: Callable[..., T], message: str | None = None) -> T:
        """Like :meth:`get`, raising :class:`Unavailable` (HTTP 503, ``unavailable``) when it is absent."""
        service = self.get(name, protocol)
        if service is None:
            raise Unavailable(message or f"The {name!r} service is not available on this hub.")
        return service

    def provider(self, name: str) -> str | None:
        """The plugin that provided ``name`` (None when absent or not known)."""
        entry = self._entries.get(name)
        return entry[1] if entry is not None else None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def _check(self, name: str, service: object, plugin: str | None, protocol: type) -> None:
        try:
            matches = isinstance(service, protocol)
        except TypeError:
            raise ServiceError(
                f"services.get({name!r}, {protocol.__qualname__}): decorate the Protocol with "
                "@typing.runtime_checkable so the service can be checked"
            ) from None
        if not matches:
            missing = [member for member in _members(protocol) if not hasattr(service, member)]
            lacks = f"it lacks {', '.join(missing)}" if missing else "it is not an instance of it"
            raise ServiceError(
                f"service {name!r} ({type(service).__qualname__}, from {_describe(plugin)}) "
                f"does not match {protocol.__qualname__}: {lacks}"
            )

    def _plugin_of(self, module: str) -> str | None:
        """The registered plugin whose module (or package) ``module`` is part of; the longest match wins."""
        if self._pm is None or not module:
            return None
        best: tuple[int, str] | None = None
        for plugin_name, plugin in self._pm.list_name_plugin():
            if plugin_name is None:
                continue
            plugin = getattr(plugin, "__hub_plugin__", plugin)  # the plugin itself, not the host's shim
            home = getattr(plugin, "__name__", None) if isinstance(plugin, types.ModuleType) else type(plugin).__module__
            if isinstance(home, str) and (module == home or module.startswith(home + ".")):
                if best is None or len(home) > best[0]:
                    best = (len(home), plugin_name)
        return best[1] if best is not None else None


def _members(protocol: type) -> list[str]:
    """The attributes and methods a protocol class declares (its own and its bases')."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls.__name__ in _TYPING_BASES and cls.__module__ in ("typing", "builtins"):
            continue
        declared = set(vars(cls)) | set(getattr(cls, "__annotations__", {}))
        names.update(name for name in declared if not name.startswith("_") or name == "__call__")
    return sorted(names)


def _describe(plugin: str | None) -> str:
    return f"plugin {plugin!r}" if plugin is not None else "an unknown caller"


__all__ = ["ServiceError", "Services"]
