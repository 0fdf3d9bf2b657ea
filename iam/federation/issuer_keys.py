"""The keys of each issuer, cached per process: never a fetch per request.

Static keys (a JWKS registered with the issuer) are used as they are. Discovered keys are
fetched on first use and kept: after `refresh_after` seconds the next token that needs them
triggers a fetch, and a `kid` they lack triggers one too; but per issuer at most one fetch
is tried per `refetch_interval`, whatever the tokens say, so neither a key rotation nor a
flood of made-up `kid`s costs more. When the issuer cannot be reached the keys already held
keep working until `max_age` after the last fetch that succeeded; then its tokens are
refused, saying so. An entry exists only for a registered issuer (read from the database),
never for what an unauthenticated token claims.

A caller on the event loop passes `may_fetch=False`: a fetch due then raises NeedsDatabase
and the request is retried in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

from iam.errors import WorkloadTokenRefused
from iam.federation.issuers import IssuerRecord, usable_keys
from iam.federation.key_fetch import FetchFailed, discover_jwks
from iam.store.generation_cache import NeedsDatabase

log = logging.getLogger("iam.federation")

MAX_STATIC = 1024  # parsed static key sets kept
Fetch = Callable[[str, bool, float], Any]  # (issuer url, allow_http, timeout) -> JWKS


def _discover(url: str, allow_http: bool, timeout: float) -> Any:
    return discover_jwks(url, allow_http=allow_http, timeout=timeout)


@dataclass
class _Held:
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)
    fetched_at: float = float("-inf")  # monotonic time of the last successful fetch
    tried_at: float = float("-inf")  # of the last attempt, successful or not
    problem: str = ""  # why the last attempt failed
    lock: threading.Lock = field(default_factory=threading.Lock)


def _refused(message: str, issuer: IssuerRecord, reason: str) -> WorkloadTokenRefused:
    return WorkloadTokenRefused(message, reason=reason, account_id=issuer.account_id)


class IssuerKeys:
    def __init__(self, *, refresh_after: float, max_age: float, refetch_interval: float,
                 timeout: float, fetch: Fetch = _discover) -> None:
        self.refresh_after = refresh_after
        self.max_age = max_age
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._fetch = fetch
        self._held: dict[tuple[str, str], _Held] = {}
        self._static: dict[tuple[str, str], dict[str, jwt.PyJWK]] = {}

    def key_for(self, issuer: IssuerRecord, kid: str, *, may_fetch: bool) -> jwt.PyJWK:
        """The issuer's key `kid`, or WorkloadTokenRefused (unknown kid, keys expired)."""
        if issuer.jwks is not None:
            static = self._static.get((issuer.id, issuer.entity_tag))
            if static is None:
                if len(self._static) >= MAX_STATIC:  # old versions of changed issuers
                    self._static.clear()
                static = self._static[(issuer.id, issuer.entity_tag)] = usable_keys(
                    issuer.jwks)
            return self._pick(static, kid, issuer)
        held = self._held.get((issuer.id, issuer.url))
        if held is None:
            held = self._held.setdefault((issuer.id, issuer.url), _Held())
        now = time.monotonic()
        fresh = now - held.fetched_at < self.refresh_after
        if (fresh and self._has(held.keys, kid)) or now - held.tried_at < self.refetch_interval:
            return self._usable(held, kid, issuer, now)
        if not may_fetch:
            raise NeedsDatabase()
        with held.lock:  # one fetch per issuer at a time; the others use its result
            if time.monotonic() - held.tried_at >= self.refetch_interval:
                self._refetch(held, issuer)
        return self._usable(held, kid, issuer, time.monotonic())

    def valid_until(self, issuer: IssuerRecord) -> float | None:
        """When the issuer's cached keys stop being trusted (epoch seconds; None: static
        keys, which do not expire). A session made with them ends no later."""
        if issuer.jwks is not None:
            return None
        held = self._held.get((issuer.id, issuer.url))
        if held is None:
            return None
        return time.time() + (held.fetched_at + self.max_age - time.monotonic())

    def _refetch(self, held: _Held, issuer: IssuerRecord) -> None:
        held.tried_at = time.monotonic()
        try:
            keys = usable_keys(self._fetch(issuer.url, issuer.allow_http, self.timeout))
            if not keys:
                raise FetchFailed(f"{issuer.url[:200]} publishes no RS256 or ES256 key")
        except FetchFailed as exc:
            held.problem = str(exc)
            log.warning("keys of issuer %s not fetched: %s", issuer.url[:200], exc)
            return
        held.keys, held.fetched_at, held.problem = keys, time.monotonic(), ""

    @staticmethod
    def _has(keys: dict[str, jwt.PyJWK], kid: str) -> bool:
        return kid in keys or (not kid and len(keys) == 1)

    def _usable(self, held: _Held, kid: str, issuer: IssuerRecord,
                now: float) -> jwt.PyJWK:
        if now - held.fetched_at >= self.max_age:
            why = f" ({held.problem})" if held.problem else ""
            raise _refused(f"the keys of issuer {issuer.url[:200]} cannot be fetched{why} and "
                           "none cached is still valid; retry when the issuer is reachable",
                           issuer, "issuer_unreachable")
        return self._pick(held.keys, kid, issuer)

    def _pick(self, keys: dict[str, jwt.PyJWK], kid: str, issuer: IssuerRecord) -> jwt.PyJWK:
        if kid in keys:
            return keys[kid]
        if not kid and len(keys) == 1:
            return next(iter(keys.values()))
        raise _refused(f"the workload token's signing key (kid {kid[:80]!r}) is not one of "
                       f"issuer {issuer.url[:200]}'s keys", issuer, "unknown_kid")
