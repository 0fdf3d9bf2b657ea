"""The registry's bearer token: a pure claims builder and one signing call.

Claims follow what distribution 2.8 accepts: `iss` (the registry's `issuer`), `sub` (the
caller's `iam_id`, empty when anonymous), `aud` (a string: the registry's `service`), `exp`,
`nbf`, `iat`, `jti` (from `secrets`) and `access`. The header follows the registry's trust
mode: `bundle` carries `kid` (libtrust key id) and `x5c` (the signing certificate, checked
against `rootcertbundle` by 2.8 and 3.x); `jwks` carries only `kid`, the key's RFC 7638
thumbprint, as the JWKS file of `iam registry-config` names it (3.x with `jwks`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from iam.tokens.signing import Keyring


@dataclass(frozen=True)
class RegistryToken:
    token: str
    expires_in: int
    issued_at: datetime

    def __repr__(self) -> str:
        return f"RegistryToken(expires_in={self.expires_in}, issued_at={self.issued_at})"

    @property
    def issued_at_rfc3339(self) -> str:
        # isoformat is C; strftime cost a registry token 2% (issued_at is whole seconds, UTC)
        return self.issued_at.isoformat().replace("+00:00", "Z")


def build_claims(*, issuer: str, subject: str, audience: str, access: list[dict[str, Any]],
                 now: int, ttl: int, jti: str) -> dict[str, Any]:
    """The claim set, exactly; no I/O, no clock, no randomness."""
    return {
        "iss": issuer, "sub": subject, "aud": audience,
        "exp": now + ttl, "nbf": now, "iat": now, "jti": jti,
        "access": access,
    }


def issue(*, keyring: Keyring, issuer: str, subject: str, audience: str,
          access: list[dict[str, Any]], ttl: int,
          trust: Literal["bundle", "jwks"] = "bundle") -> RegistryToken:
    """Sign a token with the active key, its header as the registry's `trust` wants. Every
    registry token is signed here: the token endpoint's and the service's own."""
    issued = datetime.now(UTC).replace(microsecond=0)
    claims = build_claims(issuer=issuer, subject=subject, audience=audience, access=access,
                          now=int(issued.timestamp()), ttl=ttl, jti=secrets.token_urlsafe(18))
    return RegistryToken(token=keyring.sign(claims, header=trust), expires_in=ttl, issued_at=issued)
