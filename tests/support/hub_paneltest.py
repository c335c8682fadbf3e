"""A test plugin with console panels, written as a third party would: only ``from hub import ...``.

- A demo panel "Panel test" whose module (served by the plugin's own route,
  ``/api/paneltest/panel.js``) shows who signed in, calls the request
  ``paneltest.ping`` and the route ``GET /api/paneltest/whoami`` on a click,
  and shows the ``paneltest.poked`` events that reach the user's inbox.
- An admin panel with the same module, which says which page it is on.
- A demo panel whose module throws in ``mount``: the page and the other panels carry on.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import ClientRequest, ConsolePanel, hookimpl

PANEL_JS = """
export function mount(ctx) {
  var out = ctx.$(".paneltest-output");
  ctx.say(out, "Mounted " + ctx.id + " of " + ctx.plugin + " for " + ctx.user, "ok");
  ctx.root.dataset.mounted = "true";
  if (ctx.id === "paneltest-admin") return;
  ctx.$("button").addEventListener("click", async function () {
    try {
      var reply = await ctx.hub.request("paneltest.ping", {});
      var who = await ctx.api("/api/paneltest/whoami");
      ctx.say(out, "pong " + reply.pong + ", api " + who.user, "ok");
    } catch (err) {
      ctx.say(out, ctx.errorText(err), "error");
    }
  });
  ctx.hub.on("paneltest.poked", function (data) {
    ctx.$(".paneltest-events").appendChild(ctx.el("li", { text: "poked " + data.n }));
  });
}
"""

BROKEN_JS = "export function mount(ctx) { throw new Error('broken on purpose'); }\n"

PANEL_HTML = """<button type="button">Ping the plugin</button>
<p class="paneltest-output message" role="status"></p>
<ul class="paneltest-events items"></ul>"""


async def panel_js(request: Request) -> Response:
    return Response(PANEL_JS, media_type="text/javascript")


async def broken_js(request: Request) -> Response:
    return Response(BROKEN_JS, media_type="text/javascript")


@hookimpl
def hub_routes(hub):
    async def whoami(request: Request) -> Response:
        principal = await hub.authenticate(request)
        return JSONResponse({"user": principal.user})

    return [
        Route("/panel.js", panel_js, methods=["GET"]),
        Route("/broken.js", broken_js, methods=["GET"]),
        Route("/whoami", whoami, methods=["GET"]),
    ]


@hookimpl
def hub_requests(hub):
    async def ping(request: ClientRequest) -> dict[str, str]:
        return {"pong": request.principal.user}

    return {"ping": ping}


@hookimpl
def hub_console_panels(hub):
    return [
        # order 5: before every built-in card.
        ConsolePanel(id="paneltest", title="Panel test", html=PANEL_HTML, script="/api/paneltest/panel.js", order=5),
        ConsolePanel(id="paneltest-broken", title="Broken panel", html="<p>Nothing works here.</p>",
                     script="/api/paneltest/broken.js", order=6),
        ConsolePanel(id="paneltest-admin", title="Panel test (admin)", html=PANEL_HTML,
                     script="/api/paneltest/panel.js", page="admin"),
    ]
