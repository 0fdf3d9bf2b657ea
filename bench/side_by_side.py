"""Two checkouts' token paths side by side: both `iam serve` up at once, measured in turns.

    python -m bench.side_by_side OLD_ROOT NEW_ROOT [--rounds 4] [--connections 16]

Each root is a checkout with its own `.venv` (`make venv`). Each side seeds its own data
directory with its own code (bench.seed, 2,000 identities: the schemas may differ), then both
servers start, every key is used once on each, and wrk runs 10 s against one then the other,
alternating which goes first. The server's CPU per request comes from /proc.

Why: this machine's speed drifts by a third within minutes (the ceiling app, the same code,
moved between 2,183 and 3,279 req/s in one hour), so two `bench.run`s minutes apart compare
the machine as much as the code; turns of 10 s, both sides warm, compare the code.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import run_wrk, warm_every_key
from bench.seed import REGISTRY_SERVICE, seed_in_checkout
from bench.servers import free_port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve(root: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IAM_DATA_DIR": str(data), "IAM_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "IAM_REGISTRIES": f'[{{"service":"{REGISTRY_SERVICE}"}}]'}
    with log.open("wb") as out:
        process = subprocess.Popen([str(root / ".venv/bin/iam"), "serve", "--port", str(port)],
                                   cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{root}: not ready (see {log})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.side_by_side")
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iam-side-"))
    sides = {}
    for name, root in (("old", opts.old.resolve()), ("new", opts.new.resolve())):
        data = seed_in_checkout(root, work / name, n=2000)
        port = free_port()
        sides[name] = (data, port, _serve(root, data, port, work / f"{name}.log"))
    try:
        for data, port, _ in sides.values():
            warm_every_key(f"http://127.0.0.1:{port}", keys_file=data / "keys.txt", mode="token")
        print("| round | side | req/s | p50 ms | CPU µs per token | errors |")
        print("|---|---|--:|--:|--:|--:|")
        for turn in range(opts.rounds):
            for name in ("old", "new") if turn % 2 == 0 else ("new", "old"):
                data, port, process = sides[name]
                before = _cpu_seconds(process.pid)
                result = run_wrk(f"http://127.0.0.1:{port}", keys_file=data / "keys.txt",
                                 mode="token", connections=opts.connections, duration=10)
                cpu = (_cpu_seconds(process.pid) - before) / max(result.requests, 1) * 1e6
                print(f"| {turn + 1} | {name} | {result.rps:,.0f} | {result.p50_ms:.2f} | "
                      f"{cpu:,.0f} | {result.errors} |", flush=True)
    finally:
        for _, _, process in sides.values():
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
