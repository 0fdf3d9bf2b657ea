"""Machine instructions per token request of one or more checkouts' `iam serve`, counted by
valgrind's callgrind, not timed.

    python -m bench.token_instructions ROOT [ROOT ...] [--requests 1000] [--repeat 2]
                                       [--endpoint token|identity]

Needs valgrind (Debian's `valgrind` package).

Each root is a checkout with its own `.venv` (`make venv`). For each: seed a SQLite data
directory with that checkout's code (bench.seed), start `iam serve` under callgrind with
counting off, use every key once and warm up, switch counting on (`callgrind_control -i on`),
send a fixed number of token requests from `--connections` threads, let the audit flush
catch up, switch counting off, stop the server and read the total.

Why: this machine's speed drifts by a third within minutes, and the token-path differences
being judged are ~5 %: timings, even interleaved, could not settle them. Callgrind counts
the instructions the server process executes (interpreter, C extensions, SQLite), which
depend on the code and its input, not on what else the machine does. It is a proxy for CPU
time (a cache miss or a system call's kernel time is not an instruction it counts), so it
answers "does this checkout do more work per token", not "how many req/s". Under callgrind
the server runs ~50 times slower, so work done per interval rather than per request (the
activity flush every 2 s, periodic checks) weighs ~50 times more per request than it does
natively: with `VALGRIND_OPTS=--separate-threads=yes` the event loop's thread was 1.50 M of
1.87 M instructions per token, the audit flusher's 0.21 M, the periodic threads' 0.16 M.
Two checkouts with the same periodic work compare fairly; a change to that work does not.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.load import key_request, warm_every_key
from bench.seed import REGISTRY_SERVICE, seed_in_checkout
from bench.servers import Server, free_port

SERVE = ("import sys; from iam.cli import main; "
         "sys.argv = ['iam', 'serve', '--port', sys.argv[1]]; main()")



def _requests(url: str, keys_file: Path, total: int, connections: int, mode: str) -> int:
    """`total` requests of `mode` (`token`: GET /token with a push scope; `identity`: POST
    /identity/token with an API key) over `connections` threads, each with its own
    connection; returns how many were not answered 200."""
    pairs = [line.split() for line in keys_file.read_text().splitlines() if line.strip()]
    failures = [0] * connections

    def worker(slot: int) -> None:
        with httpx.Client(timeout=120) as client:
            for i in range(slot, total, connections):
                answer = key_request(client, url, mode, *pairs[i % len(pairs)])
                failures[slot] += answer.status_code != 200

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(failures)


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def measure(root: Path, work: Path, *, identities: int, requests: int,
            connections: int, mode: str = "token") -> float:
    """Instructions per request of `mode` (see `_requests`) of `root`'s server."""
    work.mkdir(parents=True)
    data = seed_in_checkout(root, work / "seed", n=identities)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "IAM_DATA_DIR": str(data), "IAM_PUBLIC_URL": url,
           "IAM_REGISTRIES": f'[{{"service":"{REGISTRY_SERVICE}"}}]', "PYTHONHASHSEED": "0"}
    out = work / "callgrind.out"
    log = work / "server.log"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            str(root / ".venv/bin/python"), "-c", SERVE, str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        # startup under valgrind is slow (each module's code translated on first run)
        Server("iam serve under callgrind", process, port, log).wait_ready("/readyz", 600)
        keys = data / "keys.txt"
        warm_every_key(url, keys_file=keys, mode=mode, threads=connections)
        _requests(url, keys, requests // 4, connections, mode)  # the steady state: caches
        time.sleep(3)
        _control("-i", "on", str(process.pid))
        failed = _requests(url, keys, requests, connections, mode)
        time.sleep(3)  # the audit flush of the last requests is part of their cost
        _control("-i", "off", str(process.pid))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=300)
    if failed:
        raise RuntimeError(f"{failed} of {requests} requests failed (see {log})")
    totals = [int(m.group(1)) for m in re.finditer(r"^(?:summary|totals): (\d+)",
                                                   out.read_text(), re.MULTILINE)]
    return max(totals) / requests


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.token_instructions")
    parser.add_argument("roots", type=Path, nargs="+")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="measure each root this often")
    parser.add_argument("--endpoint", choices=("token", "identity"), default="token",
                        help="GET /token (registry logins, pulls, pushes) or POST "
                             "/identity/token (API key for an IAM access token)")
    opts = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        parser.error("valgrind is not installed (apt-get install -y valgrind)")
    work = Path(tempfile.mkdtemp(prefix="iam-instructions-"))
    print(f"| root | run | instructions per {opts.endpoint} request |")
    print("|---|--:|--:|")
    for run in range(opts.repeat):
        for index, root in enumerate(opts.roots):
            per = measure(root.resolve(), work / f"{index}-{run}", identities=opts.identities,
                          requests=opts.requests, connections=opts.connections,
                          mode=opts.endpoint)
            print(f"| {root} | {run + 1} | {per:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
