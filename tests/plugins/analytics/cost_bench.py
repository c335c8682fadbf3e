"""What streaming the figures costs the fan-out benchmark: interleaved runs with and without the plugin.

    .venv/bin/python tests/plugins/analytics/cost_bench.py --rounds 5

Each round runs ``bench/fanout/run.py``'s fan-out workload (its own server and
load generator, pinned as it pins them) twice, in turn: the hub with every
built-in plugin but analytics (``HUB_PLUGINS``), and with analytics and an
admin watching ``stats:cluster`` (so the figures are read, merged and sent
every second). It prints the medians of deliveries per second and of the
server's CPU per delivery (the steadier figure on a shared machine). Not a test.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
WITHOUT = "bench,upload_progress,notifications,presence,doc_processing"
WITH = WITHOUT + ",analytics"

WATCHER = """
import asyncio, sys, socketio
from hub.auth import mint_token
async def main(url, secret):
    sio = socketio.AsyncClient(reconnection=False)
    ticks = []
    sio.on("stats.tick", lambda envelope: ticks.append(1))
    await sio.connect(url, auth={"token": mint_token(secret, "watcher", ["admin"])}, transports=["websocket"])
    reply = await sio.call("subscribe", {"topic": "stats:cluster"})
    print(reply.get("ok"), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(len(ticks), flush=True)
    await sio.disconnect()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def load_run() -> Any:
    spec = importlib.util.spec_from_file_location("fanout_run", ROOT / "bench" / "fanout" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Subprocess:
    """``subprocess`` for run.py, adding ``plugins`` to the hub server's environment (run.py drops HUB_*)."""

    plugins = WITHOUT

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def Popen(self, argv: list[str], env: dict[str, str] | None = None, **options: Any) -> Any:  # noqa: N802
        if env is not None and "serve" in argv and "hub" in argv:
            env = {**env, "HUB_PLUGINS": self.plugins}
        return subprocess.Popen(argv, env=env, **options)


def one(run: Any, shim: _Subprocess, plugins: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    shim.plugins = plugins
    secret = secrets.token_urlsafe(32)
    with run.server("hub", secret, workdir, "") as (url, process):
        if args.no_watcher:
            return dict(run.fanout([url], secret, args.subscribers, args.events, args.pad, [process.pid]))
        watcher = subprocess.Popen(run.pinned(1, [sys.executable, "-c", WATCHER, url, secret]),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert watcher.stdout is not None and watcher.stdin is not None
        subscribed = watcher.stdout.readline().strip()
        result = run.fanout([url], secret, args.subscribers, args.events, args.pad, [process.pid])
        watcher.stdin.write("\n")
        watcher.stdin.flush()
        ticks = int(watcher.stdout.readline().strip() or 0)
        watcher.wait(30)
    result["watching"] = subscribed == "True"
    result["ticks"] = ticks
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--pad", type=int, default=20)
    parser.add_argument("--no-watcher", action="store_true",
                        help="nobody watches: the plugin's cost when idle, not streaming")
    args = parser.parse_args()
    run = load_run()
    run.ensure_node_modules()
    shim = _Subprocess()
    run.subprocess = shim
    results: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="hub-analytics-cost-") as tmp:
        for round_ in range(args.rounds):
            for name, plugins in (("without", WITHOUT), ("with", WITH)) if round_ % 2 == 0 else (("with", WITH), ("without", WITHOUT)):
                result = one(run, shim, plugins, Path(tmp), args)
                results[name].append(result)
                print(name, json.dumps({k: result.get(k) for k in ("deliveries_per_s", "cpu_us_per_delivery", "watching", "ticks")}),
                      file=sys.stderr, flush=True)
    summary = {}
    for name, runs in results.items():
        summary[name] = {
            "deliveries_per_s": statistics.median(r["deliveries_per_s"] for r in runs),
            "cpu_us_per_delivery": statistics.median(r["cpu_us_per_delivery"] for r in runs),
            "runs": len(runs),
        }
    with_, without = summary["with"], summary["without"]
    summary["throughput_change_percent"] = round(100 * (with_["deliveries_per_s"] / without["deliveries_per_s"] - 1), 2)
    summary["cpu_change_percent"] = round(100 * (with_["cpu_us_per_delivery"] / without["cpu_us_per_delivery"] - 1), 2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
