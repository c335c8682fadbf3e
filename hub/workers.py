"""``hub serve --workers N``: N hub processes on consecutive ports, kept running.

Each worker is a whole ``hub serve`` of its own port (``port``, ``port + 1``,
...), so a reverse proxy can keep each client on one of them: Engine.IO's
long-polling sends each session's requests to the process that holds the
session (sticky sessions, see docs/deployment.md). Sharing one port between
processes cannot promise that, which is why the workers do not.

The supervisor restarts a worker that dies and stops them all on SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

logger = logging.getLogger("hub.workers")
RESTART_DELAY = 1.0


def worker_command(config: str | None, host: str, port: int) -> list[str]:
    command = [sys.executable, "-m", "hub"]
    if config:
        command += ["--config", config]
    return command + ["serve", "--host", host, "--port", str(port)]


def supervise(count: int, host: str, port: int, config: str | None, instance_id: str) -> int:
    """Run ``count`` workers until a signal; the exit status."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    workers: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(index: int) -> None:
        env = dict(os.environ)
        # Each worker gets a name of its own in logs, /api/health and the shared state.
        env["HUB_INSTANCE_ID"] = f"{instance_id or 'hub'}-{index}"
        workers[index] = subprocess.Popen(worker_command(config, host, port + index), env=env)
        logger.info("worker %d: pid %d on %s:%d", index, workers[index].pid, host, port + index)

    try:
        for index in range(count):
            spawn(index)
        while not stopping:
            time.sleep(0.2)
            for index, process in list(workers.items()):
                if process.poll() is not None and not stopping:
                    logger.error("worker %d exited with %s; restarting it", index, process.returncode)
                    time.sleep(RESTART_DELAY)
                    if not stopping:
                        spawn(index)
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in workers.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
