"""IAM access and refresh tokens (the admin API's bearer tokens), as signed JWTs.

Both are checked strictly (pinned algorithm, known kid, iss, aud, exp), and on every use the
identity and credential behind them are re-checked, so a deleted or disabled key, or a
changed password, ends them at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iam.config import Settings
from iam.errors import Unauthenticated
from iam.identity.authn import Principal
from iam.identity.cached_principals import principal_of_claims
from iam.store.generation_cache import AuthCache, SessionFor
from iam.tokens.signing import Keyring


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    expiration: int

    def __repr__(self) -> str:
        return f"TokenPair(expires_in={self.expires_in})"


def _claims(settings: Settings, principal: Principal, *, audience: str, ttl: int,
            kind: str) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "iss": settings.issuer, "aud": audience, "sub": principal.iam_id,
        "account": principal.account_id, "iat": now, "nbf": now, "exp": now + ttl,
        "jti": secrets.token_urlsafe(16), "typ": kind,
    }
    if principal.apikey_id:
        claims["apikey_id"] = principal.apikey_id
    elif principal.kind == "Profile":
        claims["rule"] = principal.credential
    else:
        claims["pwd"] = principal.credential
    return claims


#: IBM's answer for the refresh token of a trusted profile's session: there is none.
NO_REFRESH = "not_supported"


def session_ttl(principal: Principal, ttl: int) -> int:
    """`ttl`, cut to what is left of a trusted profile's session (the workload token's
    lifetime and its rule's `expiration`); at least 1 s."""
    if principal.kind != "Profile" or principal.expires_at is None:
        return ttl
    left = int((principal.expires_at - datetime.now(UTC)).total_seconds())
    return max(1, min(ttl, left))


def issue_refresh(settings: Settings, keyring: Keyring, principal: Principal) -> str:
    return keyring.sign(_claims(settings, principal, audience=settings.refresh_audience,
                                ttl=settings.refresh_token_ttl, kind="refresh"))


def issue_pair(settings: Settings, keyring: Keyring, principal: Principal) -> TokenPair:
    """An access token and a refresh token; a trusted profile gets an access token that
    ends with its session, and no refresh token (`NO_REFRESH`, as IBM answers)."""
    ttl = session_ttl(principal, settings.access_token_ttl)
    access = _claims(settings, principal, audience=settings.admin_audience, ttl=ttl,
                     kind="access")
    refresh = NO_REFRESH if principal.kind == "Profile" else issue_refresh(
        settings, keyring, principal)
    return TokenPair(access_token=keyring.sign(access), refresh_token=refresh,
                     expires_in=ttl, expiration=int(access["exp"]))


def _verify(keyring: Keyring, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
    """Claims of a valid token; any failure is the one `Unauthenticated` (no hint why; an
    unverified token names no one, so the audit learns only `bad_token`)."""
    try:
        return keyring.verify(token, audience=audience, issuer=issuer)
    except Unauthenticated:
        raise Unauthenticated(reason="bad_token") from None


def verify_access(settings: Settings, keyring: Keyring, token: str) -> dict[str, Any]:
    return _verify(keyring, token, audience=settings.admin_audience, issuer=settings.issuer)


def verify_refresh(settings: Settings, keyring: Keyring, token: str) -> dict[str, Any]:
    return _verify(keyring, token, audience=settings.refresh_audience, issuer=settings.issuer)


def principal_of_refresh(session: SessionFor, settings: Settings, keyring: Keyring, token: str,
                         cache: AuthCache | None = None) -> Principal:
    """The principal behind a refresh token, re-checked: its key or user must still be good
    (the signature and expiry every time; the key or user through the cache)."""
    return principal_of_claims(session, verify_refresh(settings, keyring, token), cache)
