"""What one test process may use without racing another: its TCP ports and Redis databases.

`make test` runs the suite on pytest-xdist workers (`PYTEST_XDIST_WORKER` = gw0, gw1, ...)
side by side. A port asked of the kernel (`bind(("127.0.0.1", 0))`, then closed) comes from
the ephemeral range, where every outgoing connection of every process also takes its source
port, and another worker may be handed the same one before the server binds it. So each
process draws from a range of its own below the ephemeral one (20000 + 500 per worker, the
plain process first), starting at a random point and checking that the port is free; and each
gets its own share of the Redis databases 1-15 (0 is left to people), so one worker's
`FLUSHDB` at the end of a test never empties another's counters.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator

REDIS_URL = os.environ.get("IAM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
PORTS_START = 20_000  # below /proc/sys/net/ipv4/ip_local_port_range (32768-60999 here)
PORTS_PER_PROCESS = 500
SLOTS = 24  # 20000 + 24 * 500 = 32000
REDIS_DBS = range(1, 16)


def _worker() -> tuple[int, int]:
    """(this process's index, how many share the run): (0, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not name.startswith("gw"):
        return 0, 1
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return 1 + int(name[2:]), max(1, count)


def _ports() -> Iterator[int]:
    index, _ = _worker()
    start = PORTS_START + (index % SLOTS) * PORTS_PER_PROCESS
    first = random.randrange(PORTS_PER_PROCESS)  # spreading, not security
    for offset in itertools.cycle(range(PORTS_PER_PROCESS)):
        yield start + (first + offset) % PORTS_PER_PROCESS


_PORTS = _ports()


def free_port() -> int:
    """A port of this process's range that nothing listens on now (each handed out once
    before the range wraps around)."""
    for _ in range(PORTS_PER_PROCESS):
        port = next(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in this test process's range")


def redis_db() -> int:
    """A Redis database of this process's share, at random within it."""
    index, count = _worker()
    if index == 0:
        return random.choice(REDIS_DBS)  # spreading, not security
    share = [db for db in REDIS_DBS if db % count == (index - 1) % count]
    return random.choice(share or list(REDIS_DBS))


def redis_url() -> str:
    return f"{REDIS_URL}/{redis_db()}"
