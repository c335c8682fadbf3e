"""Where a connect's time goes, with N connections already held: the tool behind the connect-rate work.

    flock /tmp/hub-bench.lock .venv/bin/python bench/fanout/connect_profile.py --held 0 15000 --measure 3000

For each ``--held`` count it starts ``hub serve`` as ``run.py`` does (pinned to
CPU 0, the bench plugin, SQLite in a temporary directory), holds that many idle
authenticated connections (``loadgen.mjs`` on CPU 1), then connects ``--measure``
more while ``py-spy`` samples the server, and prints: connects per second, the
server's CPU per connect (the figure least disturbed by other load), and the
functions with the most samples (inclusive and own). ``--no-profile`` skips
py-spy (its sampling slows the server a little). ``--server node`` measures
Node's server the same way, without a profile.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's own helpers: server(), loadgen(), cpu_seconds())


def hold(url: str, secret: str, count: int, prefix: str) -> subprocess.Popen[str] | None:
    if count <= 0:
        return None
    process = run.loadgen({"mode": "idle", "url": url, "secret": secret, "connections": count, "prefix": prefix},
                          stdin=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("holding load generator failed")
    print(f"  held {count:,}: {json.loads(line)['connects_per_s']:,.0f} connects/s", file=sys.stderr)
    return process


def release(process: subprocess.Popen[str] | None) -> None:
    if process is not None and process.stdin is not None:
        process.stdin.write("done\n")
        process.stdin.flush()
        process.communicate(timeout=120)


def summarise(raw: Path, top: int) -> list[str]:
    """The functions with the most samples in py-spy's collapsed stacks: inclusive and own, in %."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    lines = [f"  {total} samples"]
    lines += [f"  {100 * n / total:5.1f}% incl  {frame}" for frame, n in inclusive.most_common(top)]
    lines += [f"  {100 * n / total:5.1f}% own   {frame}" for frame, n in own.most_common(top)]
    return lines


def measure(args: argparse.Namespace, held: int, secret: str, workdir: Path) -> dict[str, Any]:
    with run.server(args.server, secret, workdir, "") as (url, process):
        holder = hold(url, secret, held, "held")
        time.sleep(2)
        spy = None
        raw = workdir / f"profile-{held}.txt"
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if args.server == "hub" and not args.no_profile:
            spy = subprocess.Popen([py_spy, "record", "-p", str(process.pid), "--format", "raw", "-o", str(raw),
                                    "--rate", str(args.rate), "--nonblocking", *(["--gil"] if args.gil else [])], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(1)
        cpu = run.cpu_seconds(process.pid)
        measured = hold(url, secret, args.measure, "measured")
        used = run.cpu_seconds(process.pid) - cpu
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        release(measured)
        release(holder)
    result: dict[str, Any] = {"held": held, "cpu_us_per_connect": used * 1e6 / args.measure,
                              "load_average": os.getloadavg()}
    if spy is not None and raw.exists():
        result["profile"] = summarise(raw, args.top)
        if args.keep:
            shutil.copy(raw, args.keep / raw.name)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="hub", choices=("hub", "node"))
    parser.add_argument("--held", nargs="+", type=int, default=[0, 15000])
    parser.add_argument("--measure", type=int, default=3000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--gil", action="store_true", help="py-spy samples only the thread holding the GIL")
    parser.add_argument("--keep", type=Path, default=None, help="a directory to keep py-spy's raw output in")
    args = parser.parse_args()
    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="hub-connect-") as tmp:
        for held in args.held:
            result = measure(args, held, secret, Path(tmp))
            print(f"{args.server}, {held:,} held: {result['cpu_us_per_connect']:,.0f} µs server CPU per connect; "
                  f"load {', '.join(f'{v:.2f}' for v in result['load_average'])}")
            for line in result.get("profile", []):
                print(line)


if __name__ == "__main__":
    main()
