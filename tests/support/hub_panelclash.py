"""A test plugin whose console panel takes the id of the presence plugin's."""

from __future__ import annotations

from hub import ConsolePanel, hookimpl


@hookimpl
def hub_console_panels(hub):
    return [ConsolePanel(id="presence", title="Not presence", html="<p>mine</p>")]
