"""Authentication through the generation cache: the principal behind a key digest or behind
a verified token's claims, read once per authorization generation (`iam.store.
generation_cache`), with the key's expiry checked on every use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iam.identity import authn
from iam.identity.authn import Principal
from iam.store.generation_cache import AuthCache, SessionFor


def _principal(cache: AuthCache | None, key: str, read: Callable[[], Principal]) -> Principal:
    """`read()`'s principal, kept under `key` until the generation or the key's expiry ends."""
    if cache is None:
        return read()
    return cache.through(cache.principals, key, read, lambda p: p.expires_at)


def principal_of_key(session: SessionFor, *, value: str, digest: str,
                     cache: AuthCache | None) -> Principal:
    """The API key's principal, from the cache when this generation has already read it.
    `digest` is the value's `apikey_format.digest`, computed once by the caller."""
    authn.check_key_shape(value)
    return _principal(cache, digest, lambda: authn.principal_of_digest(session(), digest))


def principal_of_claims(session: SessionFor, claims: dict[str, Any],
                        cache: AuthCache | None) -> Principal:
    """`authn.principal_from_claims` (is the key or user behind a verified token still
    good?), from the cache when this generation has already checked the same facts."""
    names: tuple[str, ...] = ("sub", "apikey_id", "pwd", "rule", "account")
    if str(claims.get("sub", "")).startswith(authn.PROFILE_PREFIX):
        names += ("exp",)  # a profile's session ends with its token: one entry per token
    key = "claims:" + "\x1f".join(str(claims.get(name, "")) for name in names)
    return _principal(cache, key, lambda: authn.principal_from_claims(session(), claims))
