"""What the token path has read, kept for one generation of the authorization data.

Every `docker pull` asks for a token; reading the key, its owner and the policies from the
database each time is most of the token's cost. This cache keeps, per process, the principal
behind a key digest and the actions a principal holds on a namespace, each tagged with the
**generation** it was read at: a counter in the database that triggers bump on every change
to keys, identities, groups, namespaces and policies (migration 0002), from any process.

A background thread polls the counter every `authz_poll_seconds`. An entry is used only
while its tag equals the last generation seen, so a revoked key or a removed policy stops
working on every replica within one poll interval (the reliability bound is 1 s). When
the counter cannot be read the cache switches off (every request reads the database) until
it can again. Key expiry is checked on every use; entries are keyed by the key's HMAC
digest and by the principal's own iam_id, so nothing read for one identity answers another.

What else a process keeps of that data (the list of registries) registers a reload with
`on_change`: called by the poller when the counter moves, while the cache is off, before the
new generation is trusted; if a reload fails the cache stays off and the next poll tries
again. The poll runs even with the cache turned off, for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from iam.metrics.instruments import NO_METRICS, Count, Metrics
from iam.store.models import AuthzGeneration, utcnow
from iam.store.periodic import Periodic

if TYPE_CHECKING:
    from iam.identity.authn import Principal

log = logging.getLogger("iam.authcache")

K = TypeVar("K")
V = TypeVar("V")

_READ_GENERATION = select(AuthzGeneration.value).where(  # type: ignore[call-overload]
    AuthzGeneration.id == 1)


#: Opens (or reuses) the request's read session; the token paths open one only on a miss.
SessionFor = Callable[[], Session]
#: Opens a read session (`Runtime.read`): what the token services are handed to read with.
OpenSession = Callable[[], AbstractContextManager[Session]]


class NeedsDatabase(Exception):
    """The answer needs a database read, and the caller asked for none (event loop)."""


@contextmanager
def lazy_session(open_session: OpenSession, allowed: bool) -> Iterator[SessionFor]:
    """A function opening the request's read session on first use, closed on exit;
    with `allowed=False` it raises NeedsDatabase instead (the caller retries off the loop)."""
    with ExitStack() as stack:
        opened: list[Session] = []

        def session() -> Session:
            if not allowed:
                raise NeedsDatabase()
            if not opened:
                opened.append(stack.enter_context(open_session()))
            return opened[0]

        yield session



class _Memo(Generic[K, V]):
    """A bounded map of entries tagged with a generation; the oldest entries go first.
    `hits` and `misses` count the look-ups of the token path (`AuthCache.through`)."""

    def __init__(self, max_entries: int, counters: tuple[Count, Count]) -> None:
        self.max_entries = max_entries
        self.hits, self.misses = counters
        self._data: dict[K, tuple[int, V, datetime | None]] = {}

    def get(self, key: K, generation: int) -> V | None:
        entry = self._data.get(key)
        if entry is None or entry[0] != generation:
            return None
        if entry[2] is not None and entry[2] <= utcnow():
            return None
        return entry[1]

    def put(self, key: K, generation: int, value: V, expires_at: datetime | None) -> None:
        if self.max_entries <= 0:
            return
        while len(self._data) >= self.max_entries:
            try:  # dicts keep insertion order: drop the oldest
                del self._data[next(iter(self._data))]
            except (StopIteration, KeyError, RuntimeError):
                break
        self._data[key] = (generation, value, expires_at)

    def clear(self) -> None:
        self._data = {}

    def __len__(self) -> int:
        return len(self._data)


class AuthCache:
    """Four memos under one generation: the principal behind a key digest, the actions a
    principal holds on a namespace, whole token decisions (digest, registry, scopes), and
    the trust in a workload-token issuer (its registrations and claim rules)."""

    def __init__(self, engine: Engine, *, max_entries: int, poll_seconds: float,
                 metrics: Metrics = NO_METRICS) -> None:
        self._engine = engine
        self.principals: _Memo[str, Principal] = _Memo(max_entries,
                                                       metrics.lookups("principals"))
        self.held: _Memo[tuple[str, ...], frozenset[str]] = _Memo(max_entries,
                                                                  metrics.lookups("held"))
        self.decisions: _Memo[tuple[object, ...], Any] = _Memo(  # of Decision
            max_entries, metrics.lookups("decisions"))
        self._poll_failed = metrics.database_error("generation_poll")
        #: per workload-token issuer URL: the accounts that registered it and their claim
        #: rules (iam.federation.exchange); only issuers some account registered
        self.federated: _Memo[str, Any] = _Memo(max_entries, metrics.lookups("federated"))
        #: the last generation read from the database; None = unknown, the cache is off
        self.generation: int | None = None
        #: the generation the `on_change` reloads last succeeded for
        self._reloaded: int | None = None
        self._reloads: list[Callable[[], object]] = []
        self._ticker = Periodic("iam-authcache", poll_seconds, self.refresh)
        self.enabled = max_entries > 0

    # -- the token path --------------------------------------------------------------------

    def through(self, memo: _Memo[K, V], key: K, read: Callable[[], V],
                expires_at: Callable[[V], datetime | None] = lambda _: None) -> V:
        """`read()`'s value for `key`, kept in `memo` while the generation it was read at
        lasts (and until `expires_at(value)`, if any); counted as a hit or a miss."""
        generation = self.generation  # taken before reading: no entry is newer than its tag
        if generation is not None:
            found = memo.get(key, generation)
            if found is not None:
                memo.hits.inc()
                return found
        try:
            value = read()
        except NeedsDatabase:
            # Retried in a worker thread, which counts the miss (and again any inner hit).
            raise
        except BaseException:
            memo.misses.inc()
            raise
        memo.misses.inc()
        if generation is not None:
            memo.put(key, generation, value, expires_at(value))
        return value

    # -- the generation ----------------------------------------------------------------------

    def on_change(self, reload: Callable[[], object]) -> None:
        """Call `reload` whenever the generation moves (see the module's docstring)."""
        self._reloads.append(reload)

    def refresh(self) -> int | None:
        """Read the counter; on a change forget everything. Unreadable: switch off."""
        try:
            with self._engine.connect() as conn:
                value = int(conn.execute(_READ_GENERATION).scalar_one())
        except SQLAlchemyError as exc:
            self._poll_failed.inc()
            if self.generation is not None:
                log.warning("cannot read the authorization generation (%s); token caching is "
                            "off until it can", type(exc).__name__)
            self._set(None)
            return None
        if value != self._reloaded and self._reloads:
            self._set(None)  # off while the reloads read: nothing cached from the old data
            try:
                for reload in self._reloads:
                    reload()
            except Exception as exc:  # the database again: the next poll retries
                log.warning("cannot reload after an authorization change (%s); token "
                            "caching is off until it can", type(exc).__name__)
                return None
        self._reloaded = value
        self._set(value if self.enabled else None)
        return self.generation

    def _set(self, generation: int | None) -> None:
        if generation != self.generation:
            # Switch off first: a reader racing with the clear sees None, never stale data.
            self.generation = None
            for memo in (self.principals, self.held, self.decisions, self.federated):
                memo.clear()
            self.generation = generation

    def changed(self) -> None:
        """This process committed a change: catch up now rather than at the next poll."""
        if self._ticker.running:
            self.refresh()

    def start(self) -> None:
        if not self._ticker.running:
            self.refresh()
            self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop(timeout=5)
        self._set(None)
