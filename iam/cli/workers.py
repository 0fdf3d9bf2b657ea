"""`iam serve --workers N`: N worker processes, each accepting on its own listening socket.

With one socket shared by every worker, the worker whose event loop wakes first accepts
every pending connection (asyncio takes a whole backlog in one wake-up): in one bench run a
single worker served a whole load while the other idled. Here every worker has its own
socket on the same address, all in one `SO_REUSEPORT` group, and the kernel spreads new
connections over them by a hash of each connection's addresses.

The supervisor keeps the sockets of each *slot* (the service port, and the metrics port if
there is one) for the life of the server: a worker that dies, or that SIGHUP replaces, hands
its slot to a successor, which accepts whatever queued meanwhile. A SIGHUP restart starts the
successor and waits until it serves before stopping the old worker, one slot at a time, so
no connection is refused. SIGINT and SIGTERM stop every worker, each finishing its requests
in flight (uvicorn's graceful shutdown); SIGTTIN and SIGTTOU add or remove a slot.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Process

log = logging.getLogger("uvicorn.error")
POLL_S = 0.5
#: How long a successor may take to start serving (imports, migrations check, the app's
#: start-up) before a SIGHUP restart gives up and keeps its predecessor.
READY_S = 60.0
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU)


class AddressInUse(OSError):
    """Another process already listens on the address."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listener(host: str, port: int, backlog: int, *, reuse_port: bool) -> socket.socket:
    """A TCP listening socket, inheritable by the workers. Declared `IPPROTO_TCP` so that
    asyncio sets TCP_NODELAY on what it accepts (uvicorn#3149: with `proto` 0 every
    keep-alive answer after the first waited ~40 ms for the client's delayed ACK)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(exc.errno, f"{host}:{port} is already in use") from None
        raise
    sock.set_inheritable(True)
    return sock


def free_port_of(host: str, port: int) -> int:
    """`port`, checked free: bound once without SO_REUSEPORT, which fails when anything
    listens there (another `iam serve` included: joining its group would silently split
    its traffic with it). Port 0 becomes the port the kernel picked."""
    probe = listener(host, port, 1, reuse_port=False)
    try:
        return int(probe.getsockname()[1])
    finally:
        probe.close()


@dataclass
class Slot:
    """One worker and the sockets it accepts on, which outlive it."""

    listeners: list[socket.socket]
    worker: Process | None = None


@dataclass
class Workers:
    """The supervisor. `bind()` makes one slot's listeners; `on_exit(pid)` is told of every
    worker that ended (the metrics forget its live gauges)."""

    config: Config
    count: int
    bind: Callable[[], list[socket.socket]]
    on_exit: Callable[[int], None] = lambda pid: None
    slots: list[Slot] = field(default_factory=list)
    failed: bool = False
    _signals: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; STARTUP_FAILURE if a worker could not start."""
        for sig in SIGNALS:
            signal.signal(sig, self._on_signal)
        for _ in range(self.count):
            self._add_slot()
        while not self._stop.wait(POLL_S):
            self._handle_signals()
            self._replace_dead()
        for slot in self.slots:
            if slot.worker is not None:
                slot.worker.terminate()
        for slot in self.slots:
            self._join(slot)
            for sock in slot.listeners:
                sock.close()
        return STARTUP_FAILURE if self.failed else 0

    def _on_signal(self, sig: int, _frame: object) -> None:
        self._signals.append(sig)
        if sig in (signal.SIGINT, signal.SIGTERM):
            self._stop.set()  # at once: a restart waiting for a successor gives up

    def _start(self, slot: Slot) -> Process:
        worker = Process(self.config, slot.listeners)
        worker.start()
        return worker

    def _join(self, slot: Slot) -> None:
        if slot.worker is not None:
            slot.worker.join()
            if slot.worker.pid is not None:
                self.on_exit(slot.worker.pid)

    def _add_slot(self) -> None:
        slot = Slot(self.bind())
        slot.worker = self._start(slot)
        self.slots.append(slot)

    def _handle_signals(self) -> None:
        while self._signals:
            sig = self._signals.pop(0)
            if sig in (signal.SIGINT, signal.SIGTERM):
                log.info("Received %s, stopping the workers.", signal.Signals(sig).name)
            elif sig == signal.SIGHUP:
                log.info("Received SIGHUP, replacing the workers one by one.")
                self._restart()
            elif sig == signal.SIGTTIN:
                self._add_slot()
                log.info("Received SIGTTIN: %d workers.", len(self.slots))
            elif sig == signal.SIGTTOU and len(self.slots) > 1:
                slot = self.slots.pop()
                if slot.worker is not None:
                    slot.worker.terminate()
                self._join(slot)
                for sock in slot.listeners:
                    sock.close()
                log.info("Received SIGTTOU: %d workers.", len(self.slots))

    def _restart(self) -> None:
        """Each slot's successor serves before its predecessor stops."""
        for slot in self.slots:
            if self._stop.is_set():
                return
            successor = self._start(slot)
            if not successor.wait_until_ready(READY_S, self._stop):
                successor.kill()
                successor.join()
                log.error("Worker [%s] did not become ready; keeping [%s], restart stopped.",
                          successor.pid, slot.worker.pid if slot.worker else None)
                return
            if slot.worker is not None:
                slot.worker.terminate()
                self._join(slot)
            slot.worker = successor

    def _replace_dead(self) -> None:
        for slot in self.slots:
            worker = slot.worker
            if self._stop.is_set():
                return
            if worker is not None and worker.is_alive(
                    timeout=self.config.timeout_worker_healthcheck):
                continue
            if worker is not None:
                worker.kill()  # hung, or already gone
                self._join(slot)
                if worker.exitcode == STARTUP_FAILURE:
                    # The app, TLS or database cannot start: every successor would fail too.
                    log.error("Worker [%s] failed to start; stopping.", worker.pid)
                    self.failed = True
                    self._stop.set()
                    return
                log.info("Worker [%s] died; starting another.", worker.pid)
            slot.worker = self._start(slot)
