"""collab benchmark: updates per second through one document with 50 editors, and the p99 update latency.

Starts a ``hub serve`` (SQLite file by default, or ``--database`` e.g. a PostgreSQL URL)
and runs ``bench/collab_load.mjs`` (the hub's provider under Node, packages from
tests/node) against it: ``--editors`` editors each make ``--rate`` edits per second for
``--seconds``, on one document. Latency is from an edit at one editor to its arrival
at another (stored, then relayed), on one machine's clock. Writes
``bench/results/collab.json`` and prints it.

    .venv/bin/python bench/collab_bench.py                      # 50 editors x 10 edits/s, 10 s
    .venv/bin/python bench/collab_bench.py --rate 40 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.testing import start_hub  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--editors", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="edits per second per editor")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database", default="", help="HUB_DATABASE_URL (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        env: dict[str, str] = {}
        if args.database:
            env["HUB_DATABASE_URL"] = args.database
        hub = start_hub(Path(directory), env)
        try:
            tokens = ",".join(hub.token(f"editor{i}") for i in range(args.editors + 1))
            environ = {key: value for key, value in os.environ.items() if not key.startswith("HUB_")}
            environ.update(HUB_URL=hub.url, TOKENS=tokens, EDITORS=str(args.editors), RATE=str(args.rate),
                           SECONDS=str(args.seconds), COLLAB_DOCUMENT="bench")
            completed = subprocess.run(["node", str(ROOT / "bench" / "collab_load.mjs")], env=environ,
                                       capture_output=True, text=True, timeout=args.seconds + 120)
            if completed.returncode != 0:
                sys.exit(f"collab_load.mjs failed:\n{completed.stderr}\n{hub.log()}")
            result = json.loads(completed.stdout.strip().splitlines()[-1])
        finally:
            hub.stop()
    result["database"] = "postgresql" if args.database.startswith("postgresql") else "sqlite"
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "load_average": os.getloadavg()}
    out = ROOT / "bench" / "results" / "collab.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
