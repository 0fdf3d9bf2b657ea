"""Token requests answered on the event loop when the cache can, in a worker thread when
they need the database (`iam.store.rows.generation_cache.NeedsDatabase`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from iam.store.generation_cache import NeedsDatabase

V = TypeVar("V")

async def cache_first(answer: Callable[[bool], V]) -> V:
    """`answer(database=False)` on the event loop; on a miss (NeedsDatabase), the same again
    with the database, in a worker thread, so that no database wait blocks the loop."""
    try:
        return answer(False)
    except NeedsDatabase:
        return await anyio.to_thread.run_sync(answer, True)




#: Content operations in flight at once per process; each waits on registries (seconds for
#: a large listing) in a thread of its own, never in the admin API's few worker threads.
CONTENT_OPERATIONS = 4


def content_limiter() -> anyio.CapacityLimiter:
    """The bound of content operations, made by the app's lifespan (in its event loop)."""
    return anyio.CapacityLimiter(CONTENT_OPERATIONS)


async def content_operation(limiter: anyio.CapacityLimiter, work: Callable[[], V]) -> V:
    """`work` (a registry content operation) in a thread, at most CONTENT_OPERATIONS at once."""
    return await anyio.to_thread.run_sync(work, limiter=limiter)
