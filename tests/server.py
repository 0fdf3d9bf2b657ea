"""The real `iam serve` process and the real `iam` CLI, driven as a user would.

Used by the suites that must see the service from outside: a subprocess on a free port,
its own data directory, logs captured to a file (so tests can grep them for secrets).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.workers import free_port

BIN = Path(sys.executable).parent
# A deadline, not a wait: a server is polled every 0.1 s and used as soon as it answers. On a
# machine shared by several test runs a start can take far longer than its usual second.
READY_TIMEOUT_S = 120.0


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Server:
    """A running `iam serve` with its data directory and a CLI configured to reach it."""

    root: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    bin_dir: Path = BIN  # where `iam` is installed: this venv, or another (tests/test_wheel.py)
    cwd: Path | None = None  # None: the test's own working directory
    host: str = "127.0.0.1"  # the address clients use (`start` is told to bind it)
    tls: ssl.SSLContext | None = None  # served over HTTPS: what clients verify it with
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "serve.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.env["IAM_DATA_DIR"])

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> CliResult:
        proc = subprocess.run([str(self.bin_dir / "iam"), *args], input=stdin,
                              capture_output=True, text=True, env=self.env, cwd=self.cwd,
                              timeout=60, check=False)
        result = CliResult(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"iam {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return result

    def start(self, *extra: str, ready_within: float = READY_TIMEOUT_S) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(self.bin_dir / "iam"), "serve", "--port", str(self.port), "--access-log", *extra],
            env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"iam serve exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1,
                             verify=self.tls or True).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()  # not left running (nor reported later as a ResourceWarning)
        raise AssertionError(f"iam serve not ready after {ready_within:.0f} s:\n"
                             f"{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def make_server(root: Path, **env: str) -> Server:
    """A server (not yet started) with data in `root/data` and CLI state in `root/cli.json`."""
    root.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    port = free_port()
    base.update({
        "IAM_DATA_DIR": str(root / "data"),
        "IAM_CLI_CONFIG": str(root / "cli.json"),
        "IAM_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "IAM_ACTIVITY_FLUSH_SECONDS": "0.2",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
    })
    return Server(root=root, env=base, port=port)
