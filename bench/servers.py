"""Start and stop the servers under test: `iam serve` as production runs it, and the ceiling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.seed import Seeded

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s")

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the server itself, or its children (--workers)."""
        children = _children(self.process.pid)
        workers = [p for p in children if "resource_tracker" not in _cmdline(p)]
        return workers or [self.process.pid]

    def peak_rss_mb(self) -> float:
        """The largest VmHWM (peak resident set) among the worker processes, in MB."""
        peaks = [_vm_hwm_kb(pid) for pid in self.worker_pids()]
        return max(peaks, default=0) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server and its worker processes."""
        pids = {self.process.pid, *self.worker_pids()}
        return sum(_cpu_ticks(pid) for pid in pids) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _start(name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT)
    return Server(name, process, port, log)


def start_iam(seeded: Seeded, *, workers: int, log: Path,
              extra_env: dict[str, str] | None = None) -> Server:
    """`iam serve --workers W` on a free port, exactly as production starts it."""
    port = free_port()
    env = {**seeded.env(), "IAM_PUBLIC_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
    server = _start(f"iam serve --workers {workers}",
                    [str(BIN / "iam"), "serve", "--port", str(port), "--workers", str(workers)],
                    env, log, port)
    server.wait_ready("/readyz")
    return server


def start_ceiling(keys_dir: Path, *, log: Path) -> Server:
    """The ceiling app on the same server (uvicorn, one process, same defaults)."""
    port = free_port()
    server = _start("ceiling", [str(BIN / "uvicorn"), "bench.ceiling:create_app", "--factory",
                                "--port", str(port), "--log-level", "warning",
                                "--no-access-log"],
                    {"BENCH_KEYS_DIR": str(keys_dir)}, log, port)
    server.wait_ready("/token")
    return server
