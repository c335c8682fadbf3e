"""The fan-out benchmark: the hub, plain python-socketio and Node's socket.io, side by side.

    .venv/bin/python bench/fanout/run.py

One load generator for all (``loadgen.mjs``, socket.io-client 4.8 on Node,
installed here by ``npm install`` on first run). Each server runs pinned to
CPU 0 (``taskset -c 0``), the load generator to CPU 1. Workloads:

- fan-out: one topic, 1,000 then 10,000 subscribers, 300 events of about
  200 bytes published as fast as possible by one client: deliveries per second;
- idle: 5,000 authenticated connections (one JWT each, verified by the server):
  connections per second, and the server's RSS growth per connection;
- latency: 1,000 subscribers, events at half of Node's maximum event rate
  (from the 1,000-subscriber fan-out of this run), publish to delivery p50 and p99.

It prints a table with the hub's ratio to Node and writes ``bench/results/fanout.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results" / "fanout.json"
SERVERS = ("node", "python-socketio", "hub")
WORKLOADS = ("fanout", "idle", "latency")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return (["taskset", "-c", str(cpu)] if shutil.which("taskset") else []) + argv


def bench_site(target: Path) -> Path:
    """A directory that, on PYTHONPATH, installs the ``bench`` plugin (``hub_bench.py``)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "hub_bench.py", target / "hub_bench.py")
    info = target / "hub_bench-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub_bench\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hub.plugins]\nbench = hub_bench\n")
    return target


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(name: str, secret: str, workdir: Path, database_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = dict(os.environ)
    if name == "node":
        argv = ["node", str(HERE / "node_server.mjs"), str(port), secret]
    elif name == "python-socketio":
        argv = [sys.executable, str(HERE / "py_server.py"), str(port), secret]
    else:
        data = Path(tempfile.mkdtemp(dir=workdir))
        env = {key: value for key, value in env.items() if not key.startswith("HUB_")}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(bench_site(workdir / "site")), env.get("PYTHONPATH", "")])),
            HUB_JWT_SECRET=secret, HUB_DATA_DIR=str(data), HUB_LOG_LEVEL="warning",
            # One publisher sends hundreds of events per second: lift the per-connection request limit.
            HUB_RATE_LIMIT="1000000", HUB_RATE_BURST="1000000",
        )
        if database_url:
            env["HUB_DATABASE_URL"] = database_url
        argv = [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(workdir / f"{name}-{port}.log", "wb")
    process = subprocess.Popen(pinned(0, argv), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {(workdir / log.name).read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not listen on {port}") from None
                time.sleep(0.1)
        time.sleep(0.5)  # the hub answers TCP a moment before its lifespan start-up is done
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def loadgen(options: dict[str, Any], stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        pinned(1, ["node", str(HERE / "loadgen.mjs"), json.dumps(options)]),
        cwd=HERE, stdout=subprocess.PIPE, stdin=subprocess.PIPE if stdin else None, text=True,
    )


def run_loadgen(options: dict[str, Any], on_phase: Any = None) -> dict[str, Any]:
    process = loadgen(options)
    assert process.stdout is not None
    last: dict[str, Any] = {}
    for line in process.stdout:
        last = json.loads(line)
        if "phase" in last and on_phase is not None:
            on_phase(last["phase"])
    if process.wait() != 0:
        raise RuntimeError(f"load generator failed ({process.returncode}) on {options['mode']}")
    return last


def fanout(url: str, secret: str, subscribers: int, events: int, pad: int, pid: int) -> dict[str, Any]:
    marks: dict[str, float] = {}
    result = run_loadgen(
        {"mode": "fanout", "url": url, "secret": secret, "subscribers": subscribers, "events": events, "pad": pad},
        on_phase=lambda phase: marks.setdefault(phase, cpu_seconds(pid)),
    )
    # The server's CPU while publishing only (not while 10,000 clients connect): the
    # figure that does not depend on how much CPU the other processes left it.
    used = cpu_seconds(pid) - marks.get("publish", 0.0)
    result["server_cpu_s"] = round(used, 3)
    result["cpu_us_per_delivery"] = used * 1e6 / max(1, result["deliveries"])
    return result


def idle(url: str, secret: str, connections: int, pid: int) -> dict[str, Any]:
    warm = loadgen({"mode": "idle", "url": url, "secret": secret, "connections": 100}, stdin=True)
    assert warm.stdout is not None and warm.stdin is not None
    warm.stdout.readline()
    warm.stdin.write("done\n")
    warm.stdin.flush()
    warm.communicate(timeout=60)
    time.sleep(2)
    before = rss_kib(pid)
    process = loadgen({"mode": "idle", "url": url, "secret": secret, "connections": connections}, stdin=True)
    assert process.stdout is not None and process.stdin is not None
    line = process.stdout.readline()
    if not line:
        process.wait()
        raise RuntimeError("idle load generator failed")
    result: dict[str, Any] = json.loads(line)
    time.sleep(3)  # let per-connection set-up finish (welcome, inbox) before reading memory
    after = rss_kib(pid)
    process.stdin.write("done\n")
    process.stdin.flush()
    process.communicate(timeout=120)
    result.update(rss_before_kib=before, rss_after_kib=after, kib_per_connection=(after - before) / connections)
    return result


def latency(url: str, secret: str, subscribers: int, rate: float, seconds: float, pad: int) -> dict[str, Any]:
    return run_loadgen({"mode": "latency", "url": url, "secret": secret, "subscribers": subscribers,
                        "rate": rate, "seconds": seconds, "pad": pad})


def disconnect_counts(url: str) -> dict[str, int]:
    """The hub's ``hub_disconnects_total`` by reason, read from its ``/metrics`` (overload made visible)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith('hub_disconnects_total{reason="'):
            reason = line.split('"')[1]
            counts[reason] = int(float(line.split()[-1]))
    return counts


def measured(name: str, url: str, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with, for the hub, how many connections it dropped during the workload and why."""
    if name == "hub":
        result["disconnects"] = disconnect_counts(url)
    return result


def disconnects_line(results: dict[str, dict[str, Any]]) -> str:
    """One line per hub workload: its disconnects by reason (none is the healthy answer)."""
    lines = []
    for key, result in results.get("hub", {}).items():
        counts = result.get("disconnects")
        if counts is not None:
            shown = ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items()) if count) or "none"
            lines.append(f"hub {key}: disconnects during the workload: {shown}")
    return "\n".join(lines)


def ensure_node_modules() -> None:
    if not (HERE / "node_modules" / "socket.io").exists() or not (HERE / "node_modules" / "socket.io-client").exists():
        print("installing socket.io and socket.io-client (npm install in bench/fanout) ...", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=HERE, check=True)


def ratio(value: float | None, base: float | None) -> str:
    if not value or not base:
        return "-"
    return f"{value / base:.2f}x"


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    names = [name for name in SERVERS if name in results]
    rows: list[tuple[str, str, list[Any]]] = []

    def row(label: str, key: str, field: str, fmt: str, better: str) -> None:
        values = [results[name].get(key, {}).get(field) for name in names]
        rows.append((label, better, [format(v, fmt) if isinstance(v, (int, float)) else "-" for v in values]
                     + [ratio(results.get("hub", {}).get(key, {}).get(field),
                              results.get("node", {}).get(key, {}).get(field))]))

    for subs in args.subscribers:
        row(f"fan-out {subs:,} subs: deliveries/s", f"fanout_{subs}", "deliveries_per_s", ",.0f", "higher")
        row(f"fan-out {subs:,} subs: server CPU µs/delivery", f"fanout_{subs}", "cpu_us_per_delivery", ".2f", "lower")
    row(f"idle {args.connections:,}: KiB RSS per connection", "idle", "kib_per_connection", ".1f", "lower")
    row(f"idle {args.connections:,}: connections/s (JWT)", "idle", "connects_per_s", ",.0f", "higher")
    row("latency p50 ms", "latency", "p50_ms", ".2f", "lower")
    row("latency p99 ms", "latency", "p99_ms", ".2f", "lower")
    header = ["workload", *names, "hub / node"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, better, cells in rows:
        lines.append(f"| {label} ({better} is better) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS)
    parser.add_argument("--subscribers", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--pad", type=int, default=20, help="padding in each event's data (about 200-byte envelopes)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS,
                        help="a subset, for a quick look at one part")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--latency-subscribers", type=int, default=1000)
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="events per second (default: half of Node's 1,000-subscriber fan-out rate of this run)")
    parser.add_argument("--database-url", default="", help="the hub's HUB_DATABASE_URL (default: SQLite in a temp dir)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    ensure_node_modules()
    secret = secrets.token_urlsafe(32)
    results: dict[str, dict[str, Any]] = {name: {} for name in args.servers}
    with tempfile.TemporaryDirectory(prefix="hub-fanout-") as tmp:
        workdir = Path(tmp)
        for subs in args.subscribers if "fanout" in args.workloads else []:
            for name in args.servers:
                with server(name, secret, workdir, args.database_url) as (url, process):
                    results[name][f"fanout_{subs}"] = measured(
                        name, url, fanout(url, secret, subs, args.events, args.pad, process.pid)
                    )
                print(name, f"fanout {subs}", results[name][f"fanout_{subs}"], file=sys.stderr)
        for name in args.servers if "idle" in args.workloads else []:
            with server(name, secret, workdir, args.database_url) as (url, process):
                results[name]["idle"] = measured(name, url, idle(url, secret, args.connections, process.pid))
            print(name, "idle", results[name]["idle"], file=sys.stderr)
        base = results.get("node", results[args.servers[0]]).get(f"fanout_{args.subscribers[0]}", {})
        rate = args.latency_rate or max(1.0, base.get("deliveries_per_s", 0) / args.subscribers[0] / 2)
        for name in args.servers if "latency" in args.workloads else []:
            with server(name, secret, workdir, args.database_url) as (url, process):
                results[name]["latency"] = measured(name, url, latency(
                    url, secret, args.latency_subscribers, rate, args.latency_seconds, args.pad
                ))
            print(name, "latency", results[name]["latency"], file=sys.stderr)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg()},
        "parameters": {key: value for key, value in vars(args).items() if key != "output"} | {"latency_rate": rate},
        "results": results,
        "table": table(results, args),
        "disconnects": disconnects_line(results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(report["table"])
    if report["disconnects"]:
        print("\n" + report["disconnects"])
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
