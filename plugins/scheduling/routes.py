"""The HTTP API under ``/api/scheduling/``: the catalogue, direct bookings, cancellation, calendars."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub import Forbidden, Hub, InvalidMessage, JSONResponse, NotFound, Principal, describe, read_json

from . import ical
from .availability import iso_in, parse_instant
from .catalog import Resource, checked_id
from .feeds import KINDS

if TYPE_CHECKING:
    from . import Running
    from .bookings import Slot

LIMIT = 64 * 1024
BOOK_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["resource", "start", "type", "client"],
    "properties": {
        "resource": {"type": "string"}, "start": {"type": "string", "format": "date-time"},
        "type": {"type": "string"}, "client": {"type": "string", "description": "The client's user id (sub)."},
        "id": {"type": "string", "description": "Idempotency key: the same request again gives the same booking."},
    },
}}}}


def booking_dict(slot: Slot, resource: Resource) -> dict[str, Any]:
    return {"booking_id": slot.booking_id, "resource": slot.resource_id, "type": slot.type_id,
            "client": slot.client, "state": slot.state, "start": iso_in(slot.start_s), "end": iso_in(slot.end_s),
            "local_start": iso_in(slot.start_s, resource.tz), "lawyer": resource.owner}


def routes(hub: Hub, running: Callable[[], Running]) -> list[BaseRoute]:
    async def may_manage(request: Request, resource_id: str) -> Resource:
        principal = await hub.authenticate(request)
        resource = await running().catalog.resource(resource_id)
        if not (principal.is_admin or principal.is_service or principal.user == resource.owner):
            raise Forbidden("Only the resource's owner, services and admins may change it.")
        return resource

    async def list_resources(request: Request) -> JSONResponse:
        """The bookable resources (lawyers)."""
        await hub.authenticate(request)
        return JSONResponse({"resources": await running().catalog.list_resources()})

    async def get_resource(request: Request) -> JSONResponse:
        """One resource, with its weekly hours and exceptions."""
        await hub.authenticate(request)
        parts = running()
        resource = await parts.catalog.resource(request.path_params["resource"])
        return JSONResponse({**resource.to_dict(),
                             "exceptions": await parts.catalog.list_exceptions(resource.id)})

    @describe(responses={"200": {"description": "The resource as stored."}})
    async def put_resource(request: Request) -> JSONResponse:
        """Create or replace a resource (services and admins): `{name, owner, tz, hours}`."""
        await hub.authenticate(request, roles=("service", "admin"))
        resource_id = checked_id(request.path_params["resource"], "resource")
        resource = await running().catalog.put_resource(await read_json(request, LIMIT), resource_id)
        return JSONResponse(resource.to_dict())

    async def put_hours(request: Request) -> JSONResponse:
        """Replace a resource's weekly hours (its owner, services, admins): `{hours: {mon: [["09:00", "17:00"]]}}`."""
        resource = await may_manage(request, request.path_params["resource"])
        body = await read_json(request, LIMIT)
        return JSONResponse((await running().catalog.set_hours(resource.id, body.get("hours"))).to_dict())

    async def add_exception(request: Request) -> JSONResponse:
        """Add a day off, hours off or extra hours: `{day, kind: off|extra, start?, end?}` (local times)."""
        resource = await may_manage(request, request.path_params["resource"])
        made = await running().catalog.add_exception(resource.id, await read_json(request, LIMIT))
        return JSONResponse(made, status_code=201)

    async def delete_exception(request: Request) -> JSONResponse:
        """Remove an exception."""
        resource = await may_manage(request, request.path_params["resource"])
        await running().catalog.delete_exception(resource.id, request.path_params["n"])
        return JSONResponse({})

    async def list_types(request: Request) -> JSONResponse:
        """The consultation types."""
        await hub.authenticate(request)
        return JSONResponse({"types": [kind.to_dict() for kind in await running().catalog.list_types()]})

    async def put_type(request: Request) -> JSONResponse:
        """Create or replace a consultation type (services, admins): `{name, duration_minutes, buffer_minutes}`."""
        await hub.authenticate(request, roles=("service", "admin"))
        type_id = checked_id(request.path_params["type"], "type")
        made = await running().catalog.put_type(type_id, await read_json(request, LIMIT))
        return JSONResponse(made.to_dict())

    @describe(requestBody=BOOK_BODY, responses={"201": {"description": "Booked."},
                                                "200": {"description": "The same request again: the same booking."},
                                                "409": {"description": "The slot is taken."}})
    async def book(request: Request) -> JSONResponse:
        """Book a slot directly, without a hold (services, admins), idempotent by `id`."""
        principal = await hub.authenticate(request, roles=("service", "admin"))
        body = await read_json(request, LIMIT)
        for field in ("resource", "type", "client", "start"):
            if not isinstance(body.get(field), str):
                raise InvalidMessage(f"'{field}' is required, a string.")
        parts = running()
        slot, created = await parts.bookings.book_direct(
            principal, body["client"], checked_id(body["resource"], "resource"), parse_instant(body["start"], "start"),
            checked_id(body["type"], "type"), body.get("id"),
        )
        if created:
            parts.tell_later(slot, "booked")
        resource = await parts.catalog.resource(slot.resource_id)
        return JSONResponse({**booking_dict(slot, resource), "created": created}, status_code=201 if created else 200)

    async def readable(request: Request) -> tuple[Principal, Slot, Resource]:
        principal = await hub.authenticate(request)
        parts = running()
        slot = await parts.bookings.by_booking(request.path_params["booking"])
        resource = await parts.catalog.resource(slot.resource_id)
        if not (principal.is_admin or principal.is_service or principal.user in (slot.client, resource.owner)):
            raise NotFound(f"No booking {slot.booking_id!r}.")
        return principal, slot, resource

    async def get_booking(request: Request) -> JSONResponse:
        """One booking (its client, the lawyer, services, admins)."""
        _, slot, resource = await readable(request)
        return JSONResponse(booking_dict(slot, resource))

    async def booking_ics(request: Request) -> Response:
        """One booking as an iCalendar file, to open in a calendar application."""
        _, slot, resource = await readable(request)
        return calendar_response(f"Consultation {slot.booking_id}", [slot], {resource.id: resource})

    async def cancel(request: Request) -> JSONResponse:
        """Cancel a booking (its client, the lawyer, admins, services; until the configured time before it)."""
        principal = await hub.authenticate(request)
        parts = running()
        slot, changed = await parts.bookings.cancel(principal, request.path_params["booking"])
        if changed:
            parts.tell_later(slot, "cancelled")
        return JSONResponse({"cancelled": True, "booking_id": slot.booking_id})

    async def rotate_feed(request: Request) -> JSONResponse:
        """A new secret calendar address: `{kind: client}` (yours) or `{kind: resource, resource}` (its owner's)."""
        principal = await hub.authenticate(request)
        body = await read_json(request, LIMIT)
        kind = body.get("kind", "client")
        if kind not in KINDS:
            raise InvalidMessage("'kind' is 'client' or 'resource'.")
        subject = principal.user
        if kind == "resource":
            subject = (await may_manage(request, checked_id(body.get("resource"), "resource"))).id
        token = await running().feeds.rotate(kind, subject)
        return JSONResponse({"kind": kind, "subject": subject, "token": token,
                             "path": f"/api/scheduling/calendar/{token}.ics"}, status_code=201)

    async def feed(request: Request) -> Response:
        """A calendar feed (no bearer token: the address is the secret)."""
        parts = running()
        found = await parts.feeds.lookup(request.path_params["feed"])
        if found is None:
            raise NotFound("No such calendar.")
        kind, subject = found
        if kind == "resource":
            booked = await parts.bookings.booked_slots(resource_id=subject)
        else:
            booked = await parts.bookings.booked_slots(client=subject)
        resources = {}
        for slot in booked:
            if slot.resource_id not in resources:
                resources[slot.resource_id] = await parts.catalog.resource(slot.resource_id)
        return calendar_response(f"Consultations ({subject})", booked, resources)

    return [
        Route("/resources", list_resources, methods=["GET"]),
        Route("/resources/{resource}", get_resource, methods=["GET"]),
        Route("/resources/{resource}", put_resource, methods=["PUT"]),
        Route("/resources/{resource}/hours", put_hours, methods=["PUT"]),
        Route("/resources/{resource}/exceptions", add_exception, methods=["POST"]),
        Route("/resources/{resource}/exceptions/{n:int}", delete_exception, methods=["DELETE"]),
        Route("/types", list_types, methods=["GET"]),
        Route("/types/{type}", put_type, methods=["PUT"]),
        Route("/bookings", book, methods=["POST"]),
        Route("/bookings/{booking}.ics", booking_ics, methods=["GET"]),
        Route("/bookings/{booking}", get_booking, methods=["GET"]),
        Route("/bookings/{booking}/cancel", cancel, methods=["POST"]),
        Route("/feeds", rotate_feed, methods=["POST"]),
        Route("/calendar/{feed}.ics", feed, methods=["GET"]),
    ]


def calendar_response(name: str, booked: list[Slot], resources: dict[str, Resource]) -> Response:
    events = []
    for slot in booked:
        resource = resources[slot.resource_id]
        events.append(ical.Event(
            uid=f"{slot.booking_id}@hub-scheduling", start_s=slot.start_s, end_s=slot.end_s,
            summary=f"Consultation with {resource.name}", sequence=slot.version, cancelled=slot.state != "booked",
            description=f"{slot.type_id}, client {slot.client}, booking {slot.booking_id}. "
                        f"Local time of {resource.name}: {iso_in(slot.start_s, resource.tz)} ({resource.tz.key}).",
        ))
    body = ical.calendar(name, events, time.time())
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"content-disposition": 'inline; filename="consultations.ics"', "cache-control": "no-store"})
