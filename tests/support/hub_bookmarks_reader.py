"""A fixture plugin that uses the ``bookmarks`` service of tests/fixtures/hub-bookmarks-plugin.

It never imports that plugin: it declares the shape it needs as Protocols,
looks the service up when a request comes, and carries on without it.
``reading.pin {document}`` bookmarks a document through the service (whose
event reaches ``bookmarks:<user>`` as if the client had asked) and answers
with the user's titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from hub import ClientRequest, RequestHandler, hookimpl


class BookmarkLike(Protocol):
    @property
    def document(self) -> str: ...

    @property
    def title(self) -> str: ...


@runtime_checkable
class BookmarkKeeper(Protocol):
    async def list(self, user: str) -> Sequence[BookmarkLike]: ...

    async def add(self, user: str, document: str, title: str) -> tuple[BookmarkLike, bool]: ...


async def pin(request: ClientRequest) -> dict[str, Any]:
    """``reading.pin {document}``: bookmark it as "Pinned: <document>", through the service."""
    keeper = request.hub.services.get("bookmarks", BookmarkKeeper)
    if keeper is None:
        return {"available": False}
    document = request.field("document", str)
    user = request.principal.user
    _, created = await keeper.add(user, document, f"Pinned: {document}")
    return {"available": True, "created": created, "titles": [bookmark.title for bookmark in await keeper.list(user)]}


@hookimpl
def hub_requests() -> dict[str, RequestHandler]:
    return {"pin": pin}
