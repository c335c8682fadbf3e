"""Console panels: the cards a plugin adds to the console's pages, and how the pages are put together.

A plugin returns :class:`ConsolePanel` objects from ``hub_console_panels(hub)``.
The console inserts each panel's HTML into its page (``/`` or ``/admin``) as a
card, and the page imports the panel's JavaScript module and calls its
``mount(ctx)`` once the user has signed in (docs/console.md describes ``ctx``).
The core knows no panel by name: with a plugin disabled, its card is absent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PAGES = ("demo", "admin")
PANEL_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: Where a page's template takes its panels.
PANELS_MARKER = "<!-- hub:panels -->"


@dataclass(frozen=True)
class ConsolePanel:
    """One card on a console page, contributed by a plugin.

    - ``id``: unique among every plugin's panels (``[a-z][a-z0-9_-]*``); the
      card is ``<section id="panel-<id>" data-panel="<id>">``.
    - ``title``: the card's heading (text, escaped).
    - ``html``: the card's content, an HTML fragment, or a :class:`~pathlib.Path`
      of a file holding one (read when the app is built). It is trusted as is.
    - ``script``: the panel's JavaScript module, exporting ``mount(ctx)``; a
      :class:`~pathlib.Path` of a file, whose folder the hub serves at
      ``/console/panels/<id>/`` (so the module may import its neighbours), or
      the URL path of a module the plugin serves itself (``/api/<plugin>/panel.js``).
      ``None`` for a panel of HTML only.
    - ``page``: ``"demo"`` (``/``) or ``"admin"`` (``/admin``).
    - ``order``: lower first; ties by plugin name, then id. The built-ins use 10 to 40.
    - ``replaces``: the ``id`` of an element of the core's page marked ``data-replaceable``
      that this panel takes the place of (hidden while the panel is there; with the
      plugin disabled the core's element shows as before). ``None``: replaces nothing.
    """

    id: str
    title: str
    html: str | Path
    script: str | Path | None = None
    page: Literal["demo", "admin"] = "demo"
    order: int = 100
    replaces: str | None = None

    def __post_init__(self) -> None:
        if not PANEL_ID.match(self.id):
            raise ValueError(f"console panel id {self.id!r} must match {PANEL_ID.pattern}")
        if self.replaces is not None and not PANEL_ID.match(self.replaces):
            raise ValueError(f"console panel {self.id!r}: replaces {self.replaces!r} must be an element id like {PANEL_ID.pattern}")
        if self.page not in PAGES:
            raise ValueError(f"console panel {self.id!r}: page must be one of {', '.join(PAGES)}, not {self.page!r}")
        if isinstance(self.script, str) and not (self.script.startswith("/") and not self.script.startswith("//")):
            # The console loads nothing from elsewhere (no CDN): a module comes from this hub.
            raise ValueError(f"console panel {self.id!r}: script {self.script!r} must be a path on this hub, like /api/...")
        if isinstance(self.script, Path) and not self.script.is_file():
            raise ValueError(f"console panel {self.id!r}: script {self.script} is not a file")
        if isinstance(self.html, Path) and not self.html.is_file():
            raise ValueError(f"console panel {self.id!r}: html {self.html} is not a file")

    @classmethod
    def in_folder(
        cls, folder: Path, id: str, title: str, name: str = "panel",
        page: Literal["demo", "admin"] = "demo", order: int = 100,
    ) -> ConsolePanel:
        """The panel of ``<folder>/<name>.html`` and, when there is one, ``<folder>/<name>.js``."""
        script = folder / f"{name}.js"
        return cls(id, title, folder / f"{name}.html", script if script.is_file() else None, page, order)

    @property
    def script_url(self) -> str | None:
        """The URL the page imports the module from."""
        if isinstance(self.script, Path):
            return f"{asset_prefix(self.id)}/{self.script.name}"
        return self.script

    def fragment(self) -> str:
        return self.html.read_text(encoding="utf-8") if isinstance(self.html, Path) else self.html


@dataclass(frozen=True)
class PluginPanel:
    """A panel with the name of the plugin that contributed it."""

    plugin: str
    panel: ConsolePanel

    def render(self) -> str:
        panel = self.panel
        script = panel.script_url
        attrs = {
            "class": "card panel",
            "id": f"panel-{panel.id}",
            "data-panel": panel.id,
            "data-plugin": self.plugin,
            "aria-labelledby": f"panel-{panel.id}-title",
            **({"data-script": script} if script else {}),
            **({"data-replaces": panel.replaces} if panel.replaces else {}),
        }
        opening = " ".join(f'{name}="{html.escape(value)}"' for name, value in attrs.items())
        return (
            f"<section {opening}>\n"
            f'<h2 id="panel-{panel.id}-title">{html.escape(panel.title)}</h2>\n'
            f"{panel.fragment()}\n</section>"
        )


def asset_prefix(panel_id: str) -> str:
    """Where the folder of a panel's script file is served."""
    return f"/console/panels/{panel_id}"


def check_panels(contributed: Iterable[tuple[str, object]]) -> list[PluginPanel]:
    """The panels of ``[(plugin, returned list)]``, checked and in page order.

    Raises ``ValueError`` naming the plugin for what is not a panel and for an id taken twice.
    """
    panels: list[PluginPanel] = []
    owners: dict[str, str] = {}
    for plugin, returned in contributed:
        items = list(returned) if isinstance(returned, (list, tuple)) else [returned]
        for item in items:
            if not isinstance(item, ConsolePanel):
                raise ValueError(f"plugin {plugin!r}: hub_console_panels must return ConsolePanel objects, got {item!r}")
            if item.id in owners:
                raise ValueError(
                    f"plugin {plugin!r}: console panel id {item.id!r} is already taken by plugin {owners[item.id]!r}"
                )
            owners[item.id] = plugin
            panels.append(PluginPanel(plugin, item))
    return sorted(panels, key=lambda p: (p.panel.order, p.plugin, p.panel.id))


def render_page(template: str, panels: Iterable[PluginPanel], page: str) -> str:
    """``template`` with the cards of ``page``'s panels where it says :data:`PANELS_MARKER`."""
    if PANELS_MARKER not in template:
        raise ValueError(f"the console's {page} page has no {PANELS_MARKER}")
    shown = [p for p in panels if p.panel.page == page]
    cards = "\n".join(p.render() for p in shown)
    body = template.replace(PANELS_MARKER, cards, 1)
    for p in shown:
        # The replaced element is hidden in the page as served, so it never flashes up.
        replaced = p.panel.replaces
        if replaced:
            body = body.replace(f'id="{replaced}" data-replaceable', f'id="{replaced}" data-replaceable hidden', 1)
    return body


__all__ = ["ConsolePanel", "PluginPanel", "asset_prefix", "check_panels", "render_page"]
