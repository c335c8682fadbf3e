"""The shape checks of the libraries' internals, and the report of what they turned off.

Each optimisation of :mod:`hub._compat` names the internals it leans on and
checks them with the helpers here before it is used: an attribute is there,
is callable, takes the expected parameters, a function still sets or calls a
name (read from its code object, without running it), a driver table still
holds the expected class. A failed check raises :class:`Missing` with a
sentence for people; :func:`run` turns that into the optimisation's state
(``"on"`` or ``"off: <why>"``), and :class:`Report` collects the states of
one hub for ``/api/health``, ``/metrics`` and the log.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

logger = logging.getLogger("hub.compat")

ON = "on"


class Missing(Exception):
    """An internal is not there, or not in the shape the hub expects."""


def attribute(owner: Any, name: str, where: str) -> Any:
    """``owner.name``; :class:`Missing` naming ``where`` when it has none."""
    try:
        return getattr(owner, name)
    except AttributeError:
        raise Missing(f"{where} has no {name}") from None


def method(owner: Any, name: str, where: str, params: Iterable[str] = (), coroutine: bool = False) -> Any:
    """A callable ``owner.name`` whose signature names at least ``params`` (``self`` aside)."""
    value = attribute(owner, name, where)
    if not callable(value):
        raise Missing(f"{where}.{name} is not callable")
    if coroutine and not (inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value)):
        raise Missing(f"{where}.{name} is no longer a coroutine function")
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        raise Missing(f"{where}.{name} has no readable signature") from None
    names = [p.name for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if names and names[0] == "self":
        names = names[1:]
    absent = [param for param in params if param not in names]
    if absent:
        raise Missing(f"{where}.{name} takes no {', '.join(absent)} (takes {', '.join(names) or 'nothing'})")
    return value


def uses(function: Any, names: Iterable[str], where: str) -> None:
    """``function``'s code still reads or sets each of ``names`` (attributes, globals, methods)."""
    code = getattr(function, "__code__", None)
    if code is None:
        raise Missing(f"{where} is not plain Python code any more")
    known: set[str] = set()
    pending = [code]
    while pending:  # nested functions (python-engineio's writer task) count as the function's own code
        current = pending.pop()
        known.update(current.co_names)
        pending.extend(const for const in current.co_consts if hasattr(const, "co_names"))
    absent = [name for name in names if name not in known]
    if absent:
        raise Missing(f"{where} no longer uses {', '.join(absent)}")


def holds(table: Any, key: str, expected: Any, where: str) -> None:
    """``table[key] is expected`` (a driver table holding the class the hub subclasses)."""
    if not isinstance(table, Mapping):
        raise Missing(f"{where} is not a table any more")
    found = table.get(key)
    if found is not expected:
        shown = getattr(found, "__qualname__", repr(found))
        raise Missing(f"{where}[{key!r}] is {shown}, not {getattr(expected, '__qualname__', expected)}")


def run(check: Callable[[], None]) -> str:
    """The state of one optimisation: ``"on"``, or ``"off: <why>"`` when its check fails."""
    try:
        check()
    except Missing as missing:
        return f"off: {missing}"
    except Exception as exc:  # an import error or a library raising while we look: off, with the cause
        return f"off: {type(exc).__name__}: {exc}"
    return ON


class Report:
    """The state of each optimisation of one hub (``{"websocket_fastpath": "on", ...}``)."""

    def __init__(self, states: Mapping[str, str]) -> None:
        self.states = dict(states)
        self.gauge: Any = None

    def bind(self, gauge: Any) -> None:
        """Keep ``gauge`` (labelled ``name``) at 1 for each optimisation on, 0 for each off."""
        self.gauge = gauge
        for name, state in self.states.items():
            gauge.labels(name).set(1 if state == ON else 0)

    def enabled(self, name: str) -> bool:
        return self.states.get(name) == ON

    def set(self, name: str, state: str) -> None:
        """Record a state found later (an internal missing on the live server object)."""
        if self.states.get(name) == state:
            return
        self.states[name] = state
        if self.gauge is not None:
            self.gauge.labels(name).set(1 if state == ON else 0)
        if state != ON:
            warn(name, state)

    def as_dict(self) -> dict[str, str]:
        return dict(self.states)


def warn(name: str, state: str) -> None:
    """The log line for an optimisation turned off."""
    logger.warning("optimisation %s is %s; the hub carries on with the libraries' public behaviour", name, state)


def report(checks: Mapping[str, Callable[[], None]]) -> Report:
    """Run ``checks`` (name: check) and log a warning for each optimisation that is off."""
    states = {name: run(check) for name, check in checks.items()}
    for name, state in states.items():
        if state != ON:
            warn(name, state)
    return Report(states)
