"""Resources (lawyers), their weekly hours and exceptions, and consultation types: the catalogue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub import Database, InvalidMessage, NotFound, decode_json, encode_json, utc_timestamp

from .availability import Exception_, Schedule, minutes, parse_day, parse_hours, zone
from .tables import exceptions, resources, types

ID = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")  # also a topic key: availability:<id>


def checked_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not ID.match(value):
        raise InvalidMessage(f"'{field}' must be 1 to 100 letters, digits or _.@- characters.")
    return value


@dataclass(frozen=True)
class Resource:
    """A bookable resource (a lawyer): whose it is (``owner``, a user's ``sub``) and when it works."""

    id: str
    name: str
    owner: str
    tz: ZoneInfo
    hours: dict[str, list[list[str]]]
    exceptions: tuple[Exception_, ...] = ()

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.tz, self.hours, self.exceptions)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "owner": self.owner, "tz": self.tz.key, "hours": self.hours}


@dataclass(frozen=True)
class ConsultationType:
    """How long an appointment of this type lasts, and the buffer kept free after it."""

    id: str
    name: str
    duration_s: int
    buffer_s: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "duration_minutes": self.duration_s / 60,
                "buffer_minutes": self.buffer_s / 60, "duration_seconds": self.duration_s,
                "buffer_seconds": self.buffer_s}


def seconds_of(body: dict[str, Any], name: str, default: float | None = None) -> int:
    """``<name>_seconds`` or ``<name>_minutes`` of a body, as whole seconds."""
    value: Any = body.get(f"{name}_seconds")
    if value is None and body.get(f"{name}_minutes") is not None:
        value = body[f"{name}_minutes"]
        value = value * 60 if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if value is None:
        value = default
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 7 * 86400:
        raise InvalidMessage(f"'{name}_minutes' (or '{name}_seconds') must be a number of at most a week.")
    return int(round(value))


class Catalog:
    """Reads and writes the catalogue tables."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def put_resource(self, body: dict[str, Any], resource_id: str) -> Resource:
        name = body.get("name", resource_id)
        owner = body.get("owner")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise InvalidMessage("'name' must be a string of 1 to 200 characters.")
        if not isinstance(owner, str) or not 1 <= len(owner) <= 255:
            raise InvalidMessage("'owner' must be the user id (sub) the resource belongs to.")
        tz = zone(body.get("tz"))
        hours = parse_hours(body.get("hours", {}))
        row = {"name": name, "owner": owner, "tz": tz.key, "hours": encode_json(hours).decode()}
        async with self.database.write() as connection:
            changed = await connection.execute(resources.update().where(resources.c.id == resource_id).values(**row))
            if not changed.rowcount:
                await connection.execute(resources.insert().values(id=resource_id, created_at=utc_timestamp(), **row))
        return await self.resource(resource_id)

    async def set_hours(self, resource_id: str, raw: Any) -> Resource:
        hours = parse_hours(raw)
        async with self.database.write() as connection:
            changed = await connection.execute(
                resources.update().where(resources.c.id == resource_id).values(hours=encode_json(hours).decode())
            )
        if not changed.rowcount:
            raise NotFound(f"No resource {resource_id!r}.")
        return await self.resource(resource_id)

    async def resource(self, resource_id: str) -> Resource:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(resources).where(resources.c.id == resource_id))).mappings().first()
            if row is None:
                raise NotFound(f"No resource {resource_id!r}.")
            rows = await connection.execute(
                sa.select(exceptions).where(exceptions.c.resource_id == resource_id).order_by(exceptions.c.n)
            )
            found = tuple(Exception_(r.day, r.kind, r.start, r.end) for r in rows)
        return Resource(row["id"], row["name"], row["owner"], ZoneInfo(row["tz"]), decode_json(row["hours"]), found)

    async def list_resources(self) -> list[dict[str, Any]]:
        async with self.database.read() as connection:
            rows = (await connection.execute(sa.select(resources).order_by(resources.c.id))).mappings().all()
        return [{"id": r["id"], "name": r["name"], "owner": r["owner"], "tz": r["tz"], "hours": decode_json(r["hours"])}
                for r in rows]

    async def add_exception(self, resource_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self.resource(resource_id)
        day = parse_day(body.get("day")).isoformat()
        kind = body.get("kind", "off")
        start, end = body.get("start"), body.get("end")
        if kind not in ("off", "extra"):
            raise InvalidMessage("'kind' is 'off' (time off) or 'extra' (extra hours).")
        if (start is None) != (end is None) or (kind == "extra" and start is None):
            raise InvalidMessage("Give both 'start' and 'end' ('HH:MM'), or neither for a whole day off.")
        if start is not None and minutes(start, "start") >= minutes(end, "end"):
            raise InvalidMessage("'start' must be before 'end'.")
        async with self.database.write() as connection:
            result = await connection.execute(
                exceptions.insert().values(resource_id=resource_id, day=day, kind=kind, start=start, end=end)
            )
        number = result.inserted_primary_key[0] if result.inserted_primary_key else None
        return {"id": number, "day": day, "kind": kind, "start": start, "end": end}

    async def list_exceptions(self, resource_id: str) -> list[dict[str, Any]]:
        async with self.database.read() as connection:
            rows = await connection.execute(
                sa.select(exceptions).where(exceptions.c.resource_id == resource_id).order_by(exceptions.c.n)
            )
            return [{"id": r.n, "day": r.day, "kind": r.kind, "start": r.start, "end": r.end} for r in rows]

    async def delete_exception(self, resource_id: str, number: int) -> None:
        async with self.database.write() as connection:
            deleted = await connection.execute(
                exceptions.delete().where(exceptions.c.resource_id == resource_id, exceptions.c.n == number)
            )
        if not deleted.rowcount:
            raise NotFound(f"No exception {number} of {resource_id!r}.")

    async def put_type(self, type_id: str, body: dict[str, Any]) -> ConsultationType:
        name = body.get("name", type_id)
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise InvalidMessage("'name' must be a string of 1 to 200 characters.")
        duration, buffer = seconds_of(body, "duration"), seconds_of(body, "buffer", 0)
        if duration < 1:
            raise InvalidMessage("A consultation lasts at least a second.")
        row = {"name": name, "duration_s": duration, "buffer_s": buffer}
        async with self.database.write() as connection:
            changed = await connection.execute(types.update().where(types.c.id == type_id).values(**row))
            if not changed.rowcount:
                await connection.execute(types.insert().values(id=type_id, **row))
        return ConsultationType(type_id, name, duration, buffer)

    async def type(self, type_id: str) -> ConsultationType:
        async with self.database.read() as connection:
            row = (await connection.execute(sa.select(types).where(types.c.id == type_id))).first()
        if row is None:
            raise NotFound(f"No consultation type {type_id!r}.")
        return ConsultationType(row.id, row.name, row.duration_s, row.buffer_s)

    async def list_types(self) -> list[ConsultationType]:
        async with self.database.read() as connection:
            rows = await connection.execute(sa.select(types).order_by(types.c.id))
            return [ConsultationType(r.id, r.name, r.duration_s, r.buffer_s) for r in rows]
