"""The README's quick start and "Connect your registry", run as written, top to bottom.

The shell blocks are taken from README.md itself (tests/readme.py) and run in a fresh
directory that holds what a clone holds for them (the Makefile, pyproject.toml, `scripts/`
and this checkout's `.venv`, linked), with no `IAM_*` variable set and the venv's `bin` off
the PATH, as on a newcomer's machine: `make serve` really runs, the real `iam serve`,
`docker-registry`, skopeo and docker CLI do the rest. Two things differ from a newcomer's
terminal, both invisible to the commands: the README's ports 8080 and 5000 are replaced by
free ones (other suites run at the same time), and HOME, XDG_RUNTIME_DIR (where skopeo
keeps its login) and TMPDIR point into the directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.readme import Block, marked_blocks
from tests.server import free_port

pytestmark = [pytest.mark.server, pytest.mark.registry]

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
LINKED = ("Makefile", "pyproject.toml", "scripts", ".venv")
README_PORTS = {"iam": "127.0.0.1:8080", "registry": "127.0.0.1:5000"}
BLOCK_TIMEOUT = 120
READY_TIMEOUT = 60


@dataclass
class Terminal:
    """A command left running in the foreground of a terminal of its own."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to its process group (make and the server under it alike)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Newcomer:
    """The directory, the environment and the terminals of one run through the README."""

    root: Path
    ports: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    terminals: dict[str, Terminal] = field(default_factory=dict)
    transcript: list[str] = field(default_factory=list)

    def as_here(self, text: str) -> str:
        for name, address in README_PORTS.items():
            text = text.replace(address, self.ports[name])
        return text

    def run(self, block: Block) -> None:
        code = self.as_here(block.code)
        if block.terminal is not None:
            assert block.ready is not None
            self.foreground(block.terminal, code, self.as_here(block.ready))
            return
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=self.root,
                                env=self.env, capture_output=True, text=True,
                                timeout=BLOCK_TIMEOUT, check=False)
        self.transcript.append(f"$ {code}{result.stdout}{result.stderr}")
        assert result.returncode == 0, (
            f"README block of {block.region!r} failed ({result.returncode}):\n{code}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n{self.logs()}")

    def foreground(self, terminal: str, code: str, ready: str) -> None:
        if terminal in self.terminals:
            self.terminals.pop(terminal).interrupt()
        log = self.root / f"terminal-{terminal}-{len(self.transcript)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(["bash", "-c", code], cwd=self.root, env=self.env,
                                       stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.terminals[terminal] = Terminal(terminal, process, log)
        self.transcript.append(f"[{terminal}] $ {code}")
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{code!r} exited ({process.returncode}):\n{self.logs()}")
            try:
                httpx.get(ready, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"{code!r}: {ready} did not answer:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- terminal {t.name}\n{t.output()[-4000:]}"
                         for t in self.terminals.values())

    def close(self) -> None:
        for terminal in self.terminals.values():
            terminal.interrupt()


def _environment(root: Path, ports: dict[str, str]) -> dict[str, str]:
    home = root / "home"
    for sub in ("tmp", "run"):
        (home / sub).mkdir(parents=True)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and Path(p).resolve() != VENV_BIN.resolve()]
    env = {k: v for k, v in os.environ.items()
           # REGISTRY_*: docker-registry reads them as configuration (and skopeo one)
           if not k.startswith(("IAM_", "DOCKER_", "REGISTRY_", "XDG_", "VIRTUAL_ENV"))}
    env.update(PATH=os.pathsep.join(path), HOME=str(home), TMPDIR=str(home / "tmp"),
               XDG_RUNTIME_DIR=str(home / "run"),
               # the README's 8080 is this free port: where `make serve` binds and what the
               # hints and the registry realm say
               IAM_PORT=ports["iam"].rsplit(":", 1)[1],
               IAM_PUBLIC_URL=f"http://{ports['iam']}")
    return env


@pytest.fixture
def newcomer(tmp_path: Path) -> Iterator[Newcomer]:
    stale = subprocess.run(["make", "-q", "-C", str(REPO), ".venv/.installed-runtime"],
                           capture_output=True, check=False)
    assert stale.returncode == 0, "the venv is older than pyproject.toml: run `make venv`"
    root = tmp_path / "clone"
    root.mkdir()
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    ports = {name: f"127.0.0.1:{free_port()}" for name in README_PORTS}
    run = Newcomer(root, ports, _environment(root, ports))
    yield run
    run.close()


def test_quick_start_and_connect_your_registry_work_as_written(newcomer: Newcomer) -> None:
    """From `make serve` to a skopeo push, every README block in order; and the login hint
    `make serve` prints works as printed."""
    quick_start = marked_blocks("quick-start")
    connect = marked_blocks("connect-registry")
    assert [b.terminal for b in quick_start][:1] == ["serve"]
    assert any(b.terminal == "registry" for b in connect)

    newcomer.run(quick_start[0])  # make serve
    printed = newcomer.terminals["serve"].output()
    hint = next((line.split(":", 1)[1].strip() for line in printed.splitlines()
                 if "In a second terminal, log the CLI in:" in line), None)
    assert hint is not None, printed
    assert hint.startswith(".venv/bin/iam login --apikey @owner.key"), hint
    assert (newcomer.root / "owner.key").stat().st_mode & 0o777 == 0o600
    newcomer.run(Block("make serve's hint", hint + "\n"))

    for block in quick_start[1:] + connect:
        newcomer.run(block)

    key = (newcomer.root / "ci-key").read_text()
    assert key.startswith("riam_") and key.endswith("\n") and key.count("\n") == 1
    assert (newcomer.root / "ci-key").stat().st_mode & 0o777 == 0o600
    pushed = newcomer.transcript[-1]
    assert '"Digest": "sha256:' in pushed, pushed
