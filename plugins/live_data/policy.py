"""Who may follow a collection, and which of its records each user sees.

A configured collection's policy comes from its settings (``read``, ``owner``,
``see_all``) and, optionally, an application rule: ``rule(principal, record) -> bool``
registered on the ``live_data`` service under the name its ``rule`` setting gives.
Admins and services see everything. A collection nobody configured is for
admins and services only.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from hub import Principal

from .config import Collection

#: ``rule(principal, record) -> bool``: an application's own visibility rule.
Rule = Callable[[Principal, Mapping[str, Any]], bool]
PRIVILEGED = ("admin", "service")


class Policy:
    """One collection's access rules (or the admins-and-services rule of an unconfigured one)."""

    def __init__(self, collection: Collection | None, rules: Mapping[str, Rule]) -> None:
        self.collection = collection
        self.rules = rules

    def may_read(self, principal: Principal) -> bool:
        if principal.has_role(*PRIVILEGED):
            return True
        if self.collection is None:
            return False
        read = self.collection.read
        return "*" in read or principal.has_role(*read)

    def sees_all(self, principal: Principal) -> bool:
        """Whether no per-record rule applies to ``principal``."""
        if principal.has_role(*PRIVILEGED):
            return True
        collection = self.collection
        if collection is None:
            return False
        if collection.see_all and principal.has_role(*collection.see_all):
            return True
        return collection.owner is None and collection.rule is None

    def outcome_key(self, principal: Principal) -> Hashable:
        """Equal keys, equal visibility of every record: what a view's form may be shared by."""
        return True if self.sees_all(principal) else ("user", principal.user, tuple(sorted(principal.roles)))

    def visible(self, principal: Principal, record: Mapping[str, Any] | None) -> bool:
        if record is None:
            return False
        if self.sees_all(principal):
            return True
        collection = self.collection
        assert collection is not None
        if collection.owner is not None:
            owner = record.get(collection.owner)
            if not (owner == principal.user or (isinstance(owner, list) and principal.user in owner)):
                return False
        if collection.rule is not None:
            rule = self.rules.get(collection.rule)
            if rule is None or not rule(principal, record):
                return False  # fails closed: a rule the application did not register shows nothing
        return True
