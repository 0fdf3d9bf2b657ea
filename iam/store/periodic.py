"""A background thread that calls one function every few seconds until stopped, and how
such a duty shares the interpreter with the event loop (`taking_turns`).

The service's three background duties (key activity, the audit trail, the authorization
generation) each run on one of these; `stop` returns once the thread has finished its tick.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


class Periodic:
    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


def taking_turns(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """`items` in slices of `size`, yielding the interpreter lock after each: a background
    batch of thousands done in one go held up every request in flight (p99, BENCHMARKS.md)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
        time.sleep(0)  # let the event loop take the interpreter
