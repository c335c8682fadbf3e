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
  (from the 1,000-subscriber fan-out of this run), publish to delivery p50 and p99;
- storm: 10,000 clients reconnect at once after a restart; the hub's have
  queued inbox events (each must get ``hub.welcome`` and its queue), Node's
  only connect: seconds until the last is served;
- two processes (``fanout2``): two servers on one Redis (the hub's broker,
  Node's ``@socket.io/redis-adapter``), the subscribers split across them;
  both servers and a private ``redis-server`` share CPU 0.

It prints one table with the hub's ratio to Node, the load average, and which
runs were incomplete, and writes ``bench/results/fanout.json``. ``--quick``
runs every workload small, for a look during work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
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
WORKLOADS = ("fanout", "fanout2", "idle", "storm", "latency")
#: ``--quick``: every workload, small.
QUICK = {"subscribers": [200, 1000], "two_process_subscribers": 1000, "events": 100, "connections": [1000],
         "latency_seconds": 1.0, "latency_subscribers": 200, "storm_clients": 500, "storm_events": 1}


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


def more_files() -> None:
    """A child's open-file limit raised for 20,000 connections (as root the hard limit may go up too)."""
    for limit in (65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1]):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
            return
        except (ValueError, OSError):
            continue


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(
    name: str, secret: str, workdir: Path, database_url: str, *, port: int | None = None,
    data: Path | None = None, redis: tuple[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """One server, pinned to CPU 0; ``redis`` (url, key prefix) joins it to the others on that Redis."""
    port = port or free_port()
    env = dict(os.environ)
    if name == "node":
        argv = ["node", str(HERE / "node_server.mjs"), str(port), secret, *(redis or ())]
    elif name == "python-socketio":
        argv = [sys.executable, str(HERE / "py_server.py"), str(port), secret]
    else:
        data = data or Path(tempfile.mkdtemp(dir=workdir))
        env = {key: value for key, value in env.items() if not key.startswith("HUB_")}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(bench_site(workdir / "site")), env.get("PYTHONPATH", "")])),
            HUB_JWT_SECRET=secret, HUB_DATA_DIR=str(data), HUB_LOG_LEVEL="warning",
            # One publisher sends hundreds of events per second: lift the per-connection request limit.
            HUB_RATE_LIMIT="1000000", HUB_RATE_BURST="1000000",
        )
        if database_url:
            env["HUB_DATABASE_URL"] = database_url
        if redis:
            env.update(HUB_REDIS_URL=redis[0], HUB_REDIS_PREFIX=redis[1])
        argv = [sys.executable, "-m", "hub", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(workdir / f"{name}-{port}-{time.monotonic_ns()}.log", "wb")
    process = subprocess.Popen(pinned(0, argv), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                               preexec_fn=more_files)
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
        cwd=HERE, stdout=subprocess.PIPE, stdin=subprocess.PIPE if stdin else None, text=True, preexec_fn=more_files,
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


def fanout(urls: list[str], secret: str, subscribers: int, events: int, pad: int, pids: list[int]) -> dict[str, Any]:
    """Subscribers spread over ``urls`` (one server, or several on one Redis), the publisher on the first."""
    marks: dict[str, float] = {}

    def cpu() -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    result = run_loadgen(
        {"mode": "fanout", "urls": urls, "secret": secret, "subscribers": subscribers, "events": events, "pad": pad},
        on_phase=lambda phase: marks.setdefault(phase, cpu()),
    )
    # The servers' CPU while publishing only (not while 10,000 clients connect): the
    # figure that does not depend on how much CPU the other processes left it.
    used = cpu() - marks.get("publish", 0.0)
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


def service_token(secret: str) -> str:
    import jwt

    now = int(time.time())
    return str(jwt.encode({"sub": "bench-service", "roles": ["service"], "iat": now, "exp": now + 3600}, secret,
                          algorithm="HS256"))


def fill_inboxes(url: str, secret: str, clients: int, events: int) -> float:
    """``events`` durable events queued in each storm client's inbox over HTTP; seconds it took."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    host, port = url.removeprefix("http://").split(":")
    headers = {"authorization": f"Bearer {service_token(secret)}", "content-type": "application/json"}
    started = time.monotonic()

    def fill(share: range) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        for i in share:
            for n in range(events):
                body = json.dumps({"topic": f"user:storm{i}", "type": "bench.queued", "data": {"n": n}})
                connection.request("POST", "/api/publish", body, headers)
                response = connection.getresponse()
                response.read()
                if response.status != 201:
                    raise RuntimeError(f"publish to user:storm{i}: {response.status}")
        connection.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fill, [range(k, clients, 8) for k in range(8)]))
    return time.monotonic() - started


def storm(name: str, secret: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The reconnect after a restart: every client at once, on a server just started.

    For the hub the clients' inboxes were filled before the restart (the same
    data directory and port), and each client counts as served once it has
    ``hub.welcome`` and all its queued events; Node has no queue: connected.
    """
    port = free_port()
    data = Path(tempfile.mkdtemp(dir=workdir))
    filled = None
    if name == "hub":
        with server(name, secret, workdir, args.database_url, port=port, data=data) as (url, _):
            filled = fill_inboxes(url, secret, args.storm_clients, args.storm_events)
    with server(name, secret, workdir, args.database_url, port=port, data=data) as (url, _):
        hub = name == "hub"
        result = run_loadgen({"mode": "storm", "url": url, "secret": secret, "clients": args.storm_clients,
                              "events": args.storm_events if hub else 0, "welcome": hub, "timeout": 300})
        result = measured(name, url, result)
    result["fill_seconds"] = filled
    return result


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A redis-server of the benchmark's own, pinned to CPU 0 with the servers."""
    port = free_port()
    process = subprocess.Popen(pinned(0, ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                          "--bind", "127.0.0.1", "--dir", str(workdir)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def fanout2(name: str, secret: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Two processes on one Redis, the subscribers split across them."""
    with private_redis(workdir) as redis_url:
        prefix = f"bench-{secrets.token_hex(4)}"
        with server(name, secret, workdir, args.database_url, redis=(redis_url, prefix)) as (url_a, a), \
                server(name, secret, workdir, args.database_url, redis=(redis_url, prefix)) as (url_b, b):
            result = fanout([url_a, url_b], secret, args.two_process_subscribers, args.events, args.pad,
                            [a.pid, b.pid])
            if name == "hub":
                result["disconnects"] = {
                    reason: disconnect_counts(url_a).get(reason, 0) + disconnect_counts(url_b).get(reason, 0)
                    for reason in set(disconnect_counts(url_a)) | set(disconnect_counts(url_b))
                }
    return result


def incomplete_runs(results: dict[str, dict[str, Any]]) -> list[str]:
    """``server workload`` of every run that did not finish (a fan-out or a storm short of its target)."""
    return [f"{name} {key}" for name, runs in results.items() for key, result in runs.items()
            if result.get("complete") is False]


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    names = [name for name in SERVERS if name in results]
    rows: list[tuple[str, str, list[Any]]] = []

    def row(label: str, key: str, field: str, fmt: str, better: str) -> None:
        if not any(key in results[name] for name in names):
            return
        cells = []
        for name in names:
            result = results[name].get(key, {})
            value = result.get(field)
            cell = format(value, fmt) if isinstance(value, (int, float)) else "-"
            if result.get("complete") is False and cell != "-":
                cell += " (incomplete)"
            cells.append(cell)
        hub, node = results.get("hub", {}).get(key, {}), results.get("node", {}).get(key, {})
        shown = ratio(hub.get(field), node.get(field))
        if shown != "-" and (hub.get("complete") is False or node.get("complete") is False):
            shown += " (incomplete)"
        rows.append((label, better, [*cells, shown]))

    for subs in args.subscribers:
        row(f"fan-out {subs:,} subs: deliveries/s", f"fanout_{subs}", "deliveries_per_s", ",.0f", "higher")
        row(f"fan-out {subs:,} subs: server CPU µs/delivery", f"fanout_{subs}", "cpu_us_per_delivery", ".2f", "lower")
    subs2 = args.two_process_subscribers
    row(f"2 processes, {subs2:,} subs: deliveries/s", "fanout2", "deliveries_per_s", ",.0f", "higher")
    row(f"2 processes, {subs2:,} subs: servers' CPU µs/delivery", "fanout2", "cpu_us_per_delivery", ".2f", "lower")
    for count in args.connections:
        row(f"idle {count:,}: KiB RSS per connection", f"idle_{count}", "kib_per_connection", ".1f", "lower")
        row(f"idle {count:,}: connections/s (JWT)", f"idle_{count}", "connects_per_s", ",.0f", "higher")
    row(f"storm {args.storm_clients:,} reconnecting: s until the last is served", "storm", "seconds", ".2f", "lower")
    row("latency p50 ms", "latency", "p50_ms", ".2f", "lower")
    row("latency p99 ms", "latency", "p99_ms", ".2f", "lower")
    header = ["workload", *names, "hub / node"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, better, cells in rows:
        lines.append(f"| {label} ({better} is better) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def loads() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every workload, small: " + json.dumps(QUICK))
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=SERVERS)
    parser.add_argument("--subscribers", nargs="+", type=int, default=[1000, 10000])
    parser.add_argument("--two-process-subscribers", type=int, default=10000)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--pad", type=int, default=20, help="padding in each event's data (about 200-byte envelopes)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS,
                        help="a subset, for a quick look at one part")
    parser.add_argument("--connections", nargs="+", type=int, default=[5000, 20000])
    parser.add_argument("--storm-clients", type=int, default=10000)
    parser.add_argument("--storm-events", type=int, default=2, help="events queued in each storm client's inbox")
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument("--latency-subscribers", type=int, default=1000)
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="events per second (default: half of Node's 1,000-subscriber fan-out rate of this run)")
    parser.add_argument("--database-url", default="", help="the hub's HUB_DATABASE_URL (default: SQLite in a temp dir)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    # A server holds one file per connection: past the hard open-file limit (which only a
    # privileged process may raise) the largest idle workload is cut to what fits, and says so.
    most = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 500
    if "idle" in args.workloads and any(count > most for count in args.connections):
        print(f"idle: the open-file limit allows {most:,} connections, not "
              f"{max(args.connections):,}; measuring {most:,}", file=sys.stderr)
        args.connections = [min(count, most) for count in args.connections]
    ensure_node_modules()
    secret = secrets.token_urlsafe(32)
    results: dict[str, dict[str, Any]] = {name: {} for name in args.servers}
    load_start = os.getloadavg()
    multi = [name for name in args.servers if name != "python-socketio"]  # two processes / storm: hub and node

    def record(name: str, key: str, result: dict[str, Any]) -> None:
        result["load_average"] = os.getloadavg()
        results[name][key] = result
        print(name, key, result, file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="hub-fanout-") as tmp:
        workdir = Path(tmp)
        for subs in args.subscribers if "fanout" in args.workloads else []:
            for name in args.servers:
                with server(name, secret, workdir, args.database_url) as (url, process):
                    record(name, f"fanout_{subs}", measured(
                        name, url, fanout([url], secret, subs, args.events, args.pad, [process.pid])))
        for name in multi if "fanout2" in args.workloads else []:
            record(name, "fanout2", fanout2(name, secret, workdir, args))
        for count in args.connections if "idle" in args.workloads else []:
            for name in args.servers:
                with server(name, secret, workdir, args.database_url) as (url, process):
                    record(name, f"idle_{count}", measured(name, url, idle(url, secret, count, process.pid)))
        for name in multi if "storm" in args.workloads else []:
            record(name, "storm", storm(name, secret, workdir, args))
        base = results.get("node", results[args.servers[0]]).get(f"fanout_{args.subscribers[0]}", {})
        rate = args.latency_rate or max(1.0, base.get("deliveries_per_s", 0) / args.subscribers[0] / 2)
        for name in args.servers if "latency" in args.workloads else []:
            with server(name, secret, workdir, args.database_url) as (url, process):
                record(name, "latency", measured(name, url, latency(
                    url, secret, args.latency_subscribers, rate, args.latency_seconds, args.pad
                )))
    incomplete = incomplete_runs(results)
    report = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_average": os.getloadavg(), "load_average_at_start": load_start},
        "parameters": {key: value for key, value in vars(args).items() if key != "output"} | {"latency_rate": rate},
        "results": results,
        "table": table(results, args),
        "incomplete": incomplete,
        "disconnects": disconnects_line(results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(report["table"])
    print(f"\nload average (1, 5, 15 min): at start {', '.join(f'{v:.2f}' for v in load_start)}; at the end {loads()}"
          f" ({os.cpu_count()} CPUs)")
    print("incomplete runs: " + (", ".join(incomplete) if incomplete else "none"))
    if report["disconnects"]:
        print("\n" + report["disconnects"])
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
