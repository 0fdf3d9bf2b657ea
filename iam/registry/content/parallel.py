"""Bounded concurrency: many small registry requests at once, never more than a bound."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def each(function: Callable[[T], R], items: Iterable[T], *, concurrency: int) -> list[R]:
    """`function` of every item, at most `concurrency` at a time, results in item order.
    The first error is raised once the calls already running are over (each is bounded by
    its operation's deadline); the ones not started are not started."""
    work = list(items)
    if len(work) <= 1 or concurrency <= 1:
        return [function(item) for item in work]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(work)),
                            thread_name_prefix="iam-registry") as pool:
        futures = [pool.submit(function, item) for item in work]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
