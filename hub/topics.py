"""Topics: ``<kind>:<key>`` names, and the registry of kinds with their policies.

The core and the plugins register each kind once, with who may subscribe, who
may publish from a client, whether events are durable (and for how long), and
what a new subscriber gets as a snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .auth import Principal
from .connection import Subscription
from .errors import Forbidden, InvalidTopic, UnknownTopic
from .utils import await_me_maybe
from .views import ParamsParser, View

TOPIC_PATTERN = re.compile(r"^[a-z][a-z0-9_]*:[A-Za-z0-9_.@:-]{1,200}$")
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

#: ``policy(principal, key) -> bool``, sync or async.
Policy = Callable[[Principal, str], "bool | Awaitable[bool]"]
#: ``snapshot(principal, topic) -> value``, sync or async; ``None`` means no snapshot.
SnapshotProvider = Callable[[Principal, str], Any]
#: ``can_subscribe_with(subscription) -> bool``, sync or async: a policy that sees the subscription's params.
SubscriptionPolicy = Callable[[Subscription], "bool | Awaitable[bool]"]
#: ``snapshot_for(subscription) -> value``, sync or async: a snapshot of the subscription's view.
SubscriptionSnapshot = Callable[[Subscription], Any]


def anyone(principal: Principal, key: str) -> bool:
    """Any authenticated user."""
    return True


def nobody(principal: Principal, key: str) -> bool:
    """No client at all (services still publish over HTTP)."""
    return False


def owner_or_admin(principal: Principal, key: str) -> bool:
    """The user whose id is the topic's key, and admins."""
    return principal.user == key or principal.is_admin


def with_roles(*roles: str) -> Policy:
    """Users holding any of ``roles``."""

    def policy(principal: Principal, key: str) -> bool:
        return principal.has_role(*roles)

    policy.__doc__ = f"Users with a role among {roles}."
    return policy


@dataclass(frozen=True)
class Retention:
    """How long a durable topic's events stay in the log: by age, by count, or both."""

    max_age: float | None = None
    max_count: int | None = None


@dataclass(frozen=True)
class TopicKind:
    """A kind of topic and its policies.

    ``can_subscribe`` and ``can_publish`` receive the principal and the key (the
    part after the colon). ``durable`` events are stored, numbered and
    replayable; ``inbox`` events also stay queued for the key's user until acknowledged.

    Subscription parameters and views (:mod:`hub.views`): ``params`` validates
    the ``subscribe`` request's extra keys into :attr:`Subscription.params` (a
    kind without it refuses extra keys); ``can_subscribe_with`` is a policy that
    sees the whole :class:`Subscription` (checked after ``can_subscribe``);
    ``snapshot_for`` is the snapshot of one subscription (instead of
    ``snapshot``); ``view`` decides per subscription whether and in which form
    each event reaches it.
    """

    name: str
    can_subscribe: Policy = anyone
    can_publish: Policy = nobody
    durable: bool = False
    inbox: bool = False
    retention: Retention = field(default_factory=Retention)
    snapshot: SnapshotProvider | None = None
    description: str = ""
    params: ParamsParser | None = None
    can_subscribe_with: SubscriptionPolicy | None = None
    snapshot_for: SubscriptionSnapshot | None = None
    view: View | None = None

    def __post_init__(self) -> None:
        if not KIND_PATTERN.match(self.name):
            raise ValueError(f"topic kind {self.name!r} must match {KIND_PATTERN.pattern}")
        if self.snapshot is not None and self.snapshot_for is not None:
            raise ValueError(f"topic kind {self.name!r}: give 'snapshot' or 'snapshot_for', not both")
        if self.inbox and (self.params is not None or self.view is not None):
            # Every connection joins its inbox on connect, without a subscribe to carry params.
            raise ValueError(f"topic kind {self.name!r}: an inbox kind cannot take params or have a view")


def split_topic(topic: Any) -> tuple[str, str]:
    """``(kind, key)`` of a well-formed topic; :class:`InvalidTopic` otherwise."""
    if not isinstance(topic, str) or not TOPIC_PATTERN.match(topic):
        raise InvalidTopic("A topic is '<kind>:<key>' (kind in lower case, key up to 200 characters).")
    kind, _, key = topic.partition(":")
    return kind, key


class TopicRegistry:
    """Every registered topic kind, by name."""

    def __init__(self) -> None:
        self._kinds: dict[str, TopicKind] = {}
        self._owners: dict[str, str] = {}

    def register(self, kind: TopicKind, owner: str = "core") -> None:
        if kind.name in self._kinds:
            raise ValueError(
                f"topic kind {kind.name!r} from {owner} is already registered by {self._owners[kind.name]}"
            )
        self._kinds[kind.name] = kind
        self._owners[kind.name] = owner

    def resolve(self, topic: Any) -> tuple[TopicKind, str]:
        """The kind and key of ``topic``: :class:`InvalidTopic` or :class:`UnknownTopic` if none."""
        kind_name, key = split_topic(topic)
        kind = self._kinds.get(kind_name)
        if kind is None:
            raise UnknownTopic(f"No topic kind {kind_name!r} is registered.")
        return kind, key

    def kind_of(self, topic: str) -> TopicKind | None:
        """The registered kind of ``topic``, unchecked (delivery asks once per event: no pattern match)."""
        return self._kinds.get(topic.partition(":")[0])

    def owner(self, kind_name: str) -> str:
        return self._owners[kind_name]

    def __iter__(self) -> Any:
        return iter(self._kinds.values())

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    async def check_subscribe(self, principal: Principal, topic: Any) -> TopicKind:
        kind, key = self.resolve(topic)
        if not await await_me_maybe(kind.can_subscribe(principal, key)):
            raise Forbidden(f"You may not subscribe to {topic}.")
        return kind

    async def check_subscription(self, kind: TopicKind, subscription: Subscription) -> None:
        """``kind``'s policies for ``subscription``: ``can_subscribe``, then ``can_subscribe_with``."""
        allowed = await await_me_maybe(kind.can_subscribe(subscription.principal, subscription.key))
        if allowed and kind.can_subscribe_with is not None:
            allowed = await await_me_maybe(kind.can_subscribe_with(subscription))
        if not allowed:
            raise Forbidden(f"You may not subscribe to {subscription.topic}.")

    async def snapshot(self, kind: TopicKind, subscription: Subscription) -> Any:
        """The snapshot a new subscription gets, or ``None``."""
        if kind.snapshot_for is not None:
            return await await_me_maybe(kind.snapshot_for(subscription))
        if kind.snapshot is not None:
            return await await_me_maybe(kind.snapshot(subscription.principal, subscription.topic))
        return None

    async def check_client_publish(self, principal: Principal, topic: Any) -> TopicKind:
        kind, key = self.resolve(topic)
        if not await await_me_maybe(kind.can_publish(principal, key)):
            raise Forbidden(f"Clients may not publish to {topic}.")
        return kind
