"""The ``live_data`` service: writes to collections, snapshots at a seq, and the per-subscriber view.

Writes to one collection are serialised (an asyncio lock in the process and, on
PostgreSQL, an advisory lock across processes): each change is computed over
the current record, appended to the event log (its ``seq``), then applied to
the records table. So ``seq`` order is the order changes were made, every
event's ``previous`` is exact, and the records plus the log are enough to
rebuild the collection as of any recent ``seq``: that is how a snapshot is
made to match the ``seq`` of the subscribe reply exactly (no gap, no repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from hub import (
    Conflict, Envelope, Form, Hub, HubError, InvalidMessage, LimitExceeded, NotFound, Subscription, TooLarge,
    Unavailable, ViewResult,
)

from .changes import Change, build_event
from .config import KIND, Collection, Config
from .filters import EVERYTHING, Filter
from .policy import Policy, Rule
from .store import IDEMPOTENT, LiveStore, State, replay, undo

log = logging.getLogger("hub.live_data")
MEMO_LIMIT = 50_000


def error_of(error: Mapping[str, str]) -> HubError:
    """The :class:`HubError` of a result's ``error`` (its code and message, with the code's HTTP status)."""
    kinds: dict[str, type[HubError]] = {
        "not_found": NotFound, "too_large": TooLarge, "conflict": Conflict, "invalid_message": InvalidMessage,
    }
    return kinds.get(error["code"], InvalidMessage)(error["message"])


def _result(key: str, envelope: Envelope) -> dict[str, Any]:
    data = envelope.data
    return {"key": key, "seq": envelope.seq, "changed": data.get("record") != data.get("previous"), "type": envelope.type}


def topic_of(collection: str) -> str:
    return f"{KIND}:{collection}"


def _lock_id(collection: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"live_data:{collection}".encode(), digest_size=8).digest(), "big", signed=True)


class LiveData:
    """Collections of one hub: its service (``hub.services.get("live_data", ...)``) and its topic kind's callables."""

    def __init__(self, hub: Hub, config: Config, store: LiveStore | None) -> None:
        self.hub = hub
        self.config = config
        self.store = store
        self.rules: dict[str, Rule] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: defaultdict[str, list[tuple[list[Change], asyncio.Future[list[dict[str, Any]]]]]] = defaultdict(list)
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._policies: dict[str, Policy] = {}
        #: Called for each filter match computed (once per event and distinct filter) and each change
        #: stored: the plugin's metrics.
        self.on_match: Any = None
        self.on_change: Any = None

    def configure(self, config: Config, store: LiveStore | None) -> None:
        """The hub's configuration and store, once it starts."""
        self.config, self.store = config, store
        self._policies.clear()
        self._memo.clear()

    # Policy ------------------------------------------------------------------

    def register_rule(self, name: str, rule: Rule) -> None:
        """An application's visibility rule, ``rule(principal, record) -> bool``, for collections with ``rule = name``."""
        self.rules[name] = rule
        self._memo.clear()
        self._policies.clear()

    def collection(self, name: str) -> Collection | None:
        return self.config.collections.get(name)

    def policy(self, name: str) -> Policy:
        return Policy(self.collection(name), self.rules)

    def _policy(self, name: str) -> Policy:
        policy = self._policies.get(name)
        if policy is None:
            policy = self._policies[name] = self.policy(name)
        return policy

    def require_store(self) -> LiveStore:
        if self.store is None:
            raise Unavailable("live_data needs a SQL database (HUB_DATABASE_URL).")
        return self.store

    # Writes ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _serial(self, collection: str) -> AsyncIterator[None]:
        """One writer of ``collection`` at a time, across processes on PostgreSQL."""
        store = self.require_store()
        async with self._locks[collection]:
            if store.database.single_writer:
                yield
                return
            async with store.database.engine.connect() as connection, connection.begin():
                await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(collection)})
                yield

    async def redo(self, collection: str, applied: int | None = None) -> int:
        """Apply the log's events that the records do not reflect yet (after a crash); the seq now applied."""
        store = self.require_store()
        if applied is None:
            applied = await store.applied(collection)
        topic = topic_of(collection)
        if await self.hub.log.latest_seq(topic) <= applied:
            return applied
        backlog = await self.hub.log.backlog(topic, applied)
        if not backlog.complete:
            log.warning("live_data: %s: the log no longer holds every event after seq %d", collection, applied)
        return await store.apply(collection, backlog.events, applied)

    async def write(self, collection: str, changes: Sequence[Change]) -> list[dict[str, Any]]:
        """Apply ``changes`` in order; one result per change: ``{key, seq, changed, type}``, or ``{key, error}``.

        Writes that wait for the collection while another is in progress go
        together, in the order they came, as one batch: one read of the
        records and one transaction applying them, however many writers.
        """
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._waiting[collection].append((list(changes), future))
        async with self._serial(collection):
            waiting = self._waiting.pop(collection, [])
            if waiting:
                try:
                    results = await self._write_now(collection, [change for part, _ in waiting for change in part])
                except BaseException as exc:
                    # The writers that joined this batch fail with it (a cancelled one: as unavailable, to retry).
                    failure = Unavailable("The write was interrupted: try again.") if isinstance(exc, asyncio.CancelledError) else exc
                    for _, other in waiting:
                        if not other.done():
                            other.set_exception(failure)
                    raise
                start = 0
                for part, other in waiting:
                    if not other.done():
                        other.set_result(results[start:start + len(part)])
                    start += len(part)
        return await future

    async def _write_now(self, collection: str, changes: Sequence[Change]) -> list[dict[str, Any]]:
        """One batch of changes, the collection's writer held (by :meth:`write`)."""
        store = self.require_store()
        topic = topic_of(collection)
        configured = self.collection(collection)
        key_field = configured.key if configured is not None else "id"
        max_bytes = self.config.settings.max_record_bytes
        applied = await self.redo(collection)
        current: State = await store.records(collection, (change.key for change in changes))
        done = await store.seqs(collection, (change.id for change in changes if change.id and change.remember))
        events: list[Envelope] = []
        results: list[dict[str, Any]] = []
        last = applied
        try:
            await self._publish_each(topic, changes, current, done, key_field, max_bytes, results, events, last)
        finally:
            # What reached the log is applied, even when a later change of the batch failed.
            await store.apply(collection, events, applied)
        return results

    async def _publish_each(self, topic: str, changes: Sequence[Change], current: State, done: dict[str, int],
                            key_field: str, max_bytes: int, results: list[dict[str, Any]],
                            events: list[Envelope], last: int) -> None:
        for change in changes:
            if change.id in done:
                results.append(await self._answer_again(topic, change, done[change.id]))
                continue
            try:
                built = build_event(change, current.get(change.key), key_field, max_bytes)
            except HubError as exc:
                results.append({"key": change.key, "error": {"code": exc.code, "message": exc.message}})
                continue
            if built is None:
                results.append({"key": change.key, "seq": None, "changed": False})
                continue
            meta = {IDEMPOTENT: True} if change.id is not None and change.remember else None
            envelope = await self.hub.publish(topic, built[0], built[1], id=change.id, meta=meta)
            seq = envelope.seq or 0
            results.append(_result(change.key, envelope))
            if seq <= last:
                continue  # the same id was written before: stored and delivered once
            last = seq
            replay(current, envelope)
            events.append(envelope)
            if self.on_change is not None:
                self.on_change()

    async def _answer_again(self, topic: str, change: Change, seq: int) -> dict[str, Any]:
        """The result of a change retried with the id of one already applied: the first try's."""
        events = (await self.hub.log.backlog(topic, seq - 1, limit=1)).events
        if events and events[0].seq == seq and events[0].id == change.id:
            return _result(change.key, events[0])
        return {"key": change.key, "seq": seq, "changed": True}  # the event itself is past retention

    async def upsert(self, collection: str, key: str, record: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        """Create or replace one record; ``{key, seq, changed}`` (``seq`` None when nothing changed)."""
        return await self._one(collection, Change("upsert", key, record, id))

    async def patch(self, collection: str, key: str, fields: dict[str, Any], id: str | None = None) -> dict[str, Any]:
        """Change some fields of a record; ``NotFound`` when there is none."""
        return await self._one(collection, Change("patch", key, fields, id))

    async def delete(self, collection: str, key: str, id: str | None = None) -> dict[str, Any]:
        """Delete a record; ``{key, seq: None, changed: False}`` when there was none."""
        return await self._one(collection, Change("delete", key, None, id))

    async def get(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every record of ``collection`` now, by key."""
        return await self.state_at(collection, await self.hub.log.latest_seq(topic_of(collection)))

    async def _one(self, collection: str, change: Change) -> dict[str, Any]:
        result = (await self.write(collection, [change]))[0]
        if "error" in result:
            raise error_of(result["error"])
        return result

    async def reset(self, collection: str, items: Mapping[str, dict[str, Any]], id: str | None = None) -> int:
        """Replace the whole collection with ``items`` (key to record): one ``live.reset`` event; its seq."""
        store = self.require_store()
        topic = topic_of(collection)
        async with self._serial(collection):
            applied = await self.redo(collection)
            if id is not None and (done := await store.seqs(collection, [id])):
                return done[id]
            state, _ = await store.state(collection)
            data = {
                "records": [{"key": key, "record": record} for key, record in sorted(items.items())],
                # The records before, so that a snapshot at an older seq can take the reset back out.
                "previous": [{"key": key, "record": record} for key, record in sorted(state.items())],
            }
            envelope = await self.hub.publish(topic, "live.reset", data, id=id, meta={IDEMPOTENT: True} if id else None)
            await store.apply(collection, [envelope], applied)
            return envelope.seq or 0

    # Reads -------------------------------------------------------------------

    async def state_at(self, collection: str, seq: int) -> State:
        """Every record of ``collection`` as of ``seq`` (the records table, moved to ``seq`` with the log)."""
        store = self.require_store()
        state, applied = await store.state(collection)
        topic = topic_of(collection)
        if applied < seq:
            for event in (await self.hub.log.backlog(topic, applied)).events:
                if (event.seq or 0) <= seq:
                    replay(state, event)
        elif applied > seq:
            later = [event for event in (await self.hub.log.backlog(topic, seq)).events if (event.seq or 0) <= applied]
            for event in reversed(later):
                undo(state, event)
        return state

    def visible_records(self, collection: str, state: State, subscription: Subscription) -> list[dict[str, Any]]:
        policy = self.policy(collection)
        wanted: Filter = subscription.params or EVERYTHING
        principal = subscription.principal
        return [
            {"key": key, "record": record} for key, record in sorted(state.items())
            if wanted.matches(record) and policy.visible(principal, record)
        ]

    async def snapshot(self, subscription: Subscription) -> dict[str, Any] | None:
        """``{records}`` matching the subscription, as of the reply's seq; none when ``since`` recovered the gap."""
        if subscription.since is not None and subscription.recovered:
            return None  # the backlog brings the client up to date: no snapshot to read
        state = await self.state_at(subscription.key, subscription.seq or 0)
        records = self.visible_records(subscription.key, state, subscription)
        if len(records) > self.config.settings.max_records:
            raise LimitExceeded(f"The view holds more than {self.config.settings.max_records} records: filter it.")
        return {"records": records}

    # The view ----------------------------------------------------------------

    def view(self, subscription: Subscription, envelope: Envelope) -> ViewResult:
        """What one subscriber gets of a stored event.

        The filter is matched once per event and distinct filter (memoised by
        the event's id), whatever the number of subscribers sharing it; the
        policy then costs a comparison or two per subscriber, and the forms
        (added, changed, removed) are built once per event.
        """
        wanted: Filter = subscription.params or EVERYTHING
        policy = self._policy(subscription.key)
        principal = subscription.principal
        if envelope.type == "live.reset":
            form: Form = self._memoised((envelope.id, wanted.key, policy.outcome_key(principal)),
                                        lambda: self._reset_form(wanted, policy, principal, envelope))
            return form
        now, was = self._memoised((envelope.id, wanted.key), lambda: self._match(wanted, envelope))
        if not (now or was):
            return None
        if not policy.sees_all(principal):
            now = now and policy.visible(principal, envelope.data.get("record"))
            was = was and policy.visible(principal, envelope.data.get("previous"))
        if not (now or was):
            return None
        name = "removed" if not now else "changed" if was else "added"
        shared: Form = self._memoised((envelope.id, name), lambda: _form(envelope, now, was))
        return shared

    def _memoised(self, key: tuple[Any, ...], compute: Any) -> Any:
        memo = self._memo
        if key in memo:
            return memo[key]
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        value = memo[key] = compute()
        return value

    def _match(self, wanted: Filter, envelope: Envelope) -> tuple[bool, bool]:
        """Whether the event's new and previous record pass the filter (no policy): once per event and filter."""
        if self.on_match is not None:
            self.on_match()
        data = envelope.data
        if envelope.type not in ("live.added", "live.changed", "live.removed") or "key" not in data:
            return False, False  # not one of ours
        record, previous = data.get("record"), data.get("previous")
        if record == previous:
            return False, False  # a change that changed nothing (stored only for its idempotency id)
        return wanted.matches(record), wanted.matches(previous)

    def _reset_form(self, wanted: Filter, policy: Policy, principal: Any, envelope: Envelope) -> Form:
        if self.on_match is not None:
            self.on_match()
        records = [
            item for item in envelope.data.get("records", [])
            if wanted.matches(item.get("record")) and policy.visible(principal, item.get("record"))
        ]
        return Form(("reset", wanted.key, policy.outcome_key(principal)), {"records": records})


def _form(envelope: Envelope, now: bool, was: bool) -> Form:
    data = envelope.data
    key = data["key"]
    if now and was:
        return Form("changed", {"key": key, "record": data["record"], "previous": data["previous"]}, type="live.changed")
    if now:
        return Form("added", {"key": key, "record": data["record"]}, type="live.added")
    return Form("removed", {"key": key}, type="live.removed")
