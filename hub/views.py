"""Subscription parameters and per-subscriber views of a topic's events.

A topic kind may take parameters on ``subscribe`` (a filter, a date range, a
time zone: every key of the request besides ``topic`` and ``since``) and may
decide, per subscription, whether and in which form each event reaches it:

- ``TopicKind(params=fn)``: ``fn(raw: dict) -> value`` turns the extra keys into
  the kind's own value (kept as :attr:`Subscription.params`) or raises
  :class:`~hub.errors.InvalidMessage`. A kind without it refuses extra keys.
- ``TopicKind(view=fn)``: ``fn(subscription, envelope)`` returns ``None`` (this
  subscriber does not get the event), :data:`SAME` (it gets the event as
  published) or a :class:`Form` (it gets another ``type`` and ``data``, with the
  event's ``id``, ``seq``, ``ts`` and ``meta``).

Delivery encodes each distinct form of an event once, however many subscribers
get it: subscribers whose views return forms with equal ``key`` get the same
bytes (the first such form is the one encoded). A view must depend on the
subscription and the event only, not on when it runs: the backlog that
``subscribe`` with ``since`` replays goes through the same view, which is what
makes a filtered subscriber's resume exact (it sees ``seq`` increasing with gaps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from .envelope import Envelope, validate_type
from .errors import InvalidMessage

if TYPE_CHECKING:
    from .connection import Subscription

logger = logging.getLogger("hub.views")

#: The keys of ``subscribe`` that belong to the core; every other key is a parameter.
CORE_KEYS: Final = frozenset({"topic", "since"})


class _Same:
    """The type of :data:`SAME`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SAME"


#: What a view returns for "this subscriber gets the event as it was published".
SAME: Final = _Same()


@dataclass(frozen=True, slots=True)
class Form:
    """One form of an event, as a view returns it: ``data`` and, optionally, another ``type``.

    ``key`` names the form among this event's forms: every subscriber whose view
    returns an equal ``key`` gets the same encoded bytes, so equal keys must mean
    equal forms (e.g. ``("removed", record_key)`` or ``"yours"``/``"taken"``).
    """

    key: Hashable
    data: Mapping[str, Any]
    type: str | None = None


#: What a view returns: ``None`` (skip), :data:`SAME`, or a :class:`Form`.
ViewResult = Form | _Same | None
#: ``params(raw) -> value``: a kind's subscription parameters, validated (:class:`InvalidMessage` otherwise).
ParamsParser = Callable[[dict[str, Any]], Any]
#: ``view(subscription, envelope) -> None | SAME | Form``: what one subscriber gets of an event.
View = Callable[["Subscription", Envelope], ViewResult]


class ViewedKind(Protocol):
    """What this module reads of a :class:`~hub.topics.TopicKind` (which imports this module)."""

    @property
    def name(self) -> str: ...

    @property
    def params(self) -> ParamsParser | None: ...

    @property
    def view(self) -> View | None: ...


def parse_params(kind: ViewedKind, payload: Mapping[str, Any]) -> Any:
    """The kind's value of the ``subscribe`` request's extra keys; :class:`InvalidMessage` if it takes none."""
    extra = {name: value for name, value in payload.items() if name not in CORE_KEYS}
    if kind.params is None:
        if extra:
            names = ", ".join(repr(name) for name in sorted(extra))[:200]
            raise InvalidMessage(f"Topics of kind {kind.name!r} take no subscription parameters (got {names}).")
        return None
    return kind.params(extra)


def has_views(kind: ViewedKind) -> bool:
    """Whether the connections following a topic of ``kind`` keep a :class:`Subscription` (params or view)."""
    return kind.params is not None or kind.view is not None


def view_of(kind: ViewedKind, subscription: Subscription | None, envelope: Envelope) -> ViewResult:
    """What ``kind``'s view makes of ``envelope`` for ``subscription``; a raising view skips it (logged).

    A connection in the topic's room without a subscription record (it never
    went through ``subscribe``) gets nothing: the raw event may hold what the
    view exists to hide.
    """
    view = kind.view
    if view is None:
        return SAME
    if subscription is None:
        return None
    try:
        return view(subscription, envelope)
    except Exception:
        logger.exception("the view of %s failed for %s; event %s skipped", kind.name, subscription.connection.id,
                         envelope.id)
        return None


def wire_form(data: dict[str, Any], form: Form) -> dict[str, Any] | None:
    """The envelope dict of ``form`` of the event ``data``; ``None`` (logged) if the form's type is not valid."""
    event_type = data["type"] if form.type is None else form.type
    try:
        validate_type(event_type)
    except InvalidMessage:
        logger.error("a view gave event %s the invalid type %r; not sent", data.get("id"), event_type)
        return None
    return {**data, "type": event_type, "data": dict(form.data)}


def render(kind: ViewedKind, subscription: Subscription | None, data: dict[str, Any]) -> dict[str, Any] | None:
    """The envelope dict one subscriber gets for the event ``data``, or ``None`` (for a backlog, one by one)."""
    result = view_of(kind, subscription, Envelope.from_dict(data))
    if isinstance(result, Form):
        return wire_form(data, result)
    return None if result is None else data


__all__ = ["CORE_KEYS", "SAME", "Form", "ParamsParser", "View", "ViewResult", "ViewedKind", "has_views", "parse_params", "render", "view_of", "wire_form"]
