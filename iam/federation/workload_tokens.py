"""A workload token (a CI job's or a pod's OIDC JWT), checked against the issuer that the
account registered for its `iss`.

`peek` reads the header and claims unverified, only to find the issuer (and is bounded:
at most `MAX_TOKEN` characters). `verify` then checks, in this order: the algorithm (one the
issuer allows, and the key's own: RS256 or ES256, never `none` or HMAC), the signature with
the issuer's key for the token's `kid`, `exp`, `nbf` and `iat` with `LEEWAY` seconds, the
token's age (`iat` at most the issuer's `max_token_age` ago), `iss`, an `aud` the issuer
accepts and a `sub`. Every refusal says what failed: the holder can read the token anyway.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from iam.errors import WorkloadTokenRefused
from iam.federation.issuers import ALGORITHMS, IssuerRecord

MAX_TOKEN = 8192
LEEWAY = 30


def _refused(message: str, reason: str, account_id: str = "") -> WorkloadTokenRefused:
    return WorkloadTokenRefused(message, reason=reason, account_id=account_id)


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified; WorkloadTokenRefused if it is no JWT."""
    if len(token) > MAX_TOKEN:
        raise _refused(f"the workload token is longer than {MAX_TOKEN} characters",
                       "malformed")
    try:
        found = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
        header, claims = found["header"], found["payload"]
    except jwt.PyJWTError:
        raise _refused("the workload token is not a JWT", "malformed") from None
    if not isinstance(claims.get("iss"), str):
        raise _refused("the workload token has no iss claim", "malformed")
    return header, claims


def algorithm(header: Mapping[str, Any], issuer: IssuerRecord) -> str:
    alg = str(header.get("alg", ""))
    if alg not in ALGORITHMS or alg not in issuer.algorithms:
        raise _refused(f"the workload token's algorithm {alg[:20]!r} is not accepted from "
                       f"this issuer ({', '.join(issuer.algorithms)})", "bad_algorithm",
                       issuer.account_id)
    return alg


def verify(token: str, header: Mapping[str, Any], issuer: IssuerRecord, key: jwt.PyJWK, *,
           now: float | None = None) -> dict[str, Any]:
    """The claims of a token the issuer signed and that is valid now, or the refusal."""
    alg = algorithm(header, issuer)
    account = issuer.account_id
    if key.algorithm_name != alg:
        raise _refused(f"the workload token says {alg} but its key is for "
                       f"{key.algorithm_name}", "bad_algorithm", account)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=[alg], leeway=LEEWAY,
            options={"verify_aud": False, "verify_iss": False,
                     "require": ["exp", "iat", "iss", "sub"]})
    except jwt.ExpiredSignatureError:
        raise _refused("the workload token has expired", "expired", account) from None
    except jwt.ImmatureSignatureError:
        raise _refused("the workload token is not valid yet (nbf or iat in the future)",
                       "not_yet_valid", account) from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refused(f"the workload token lacks the {exc.claim} claim", "malformed",
                       account) from None
    except jwt.InvalidSignatureError:
        raise _refused("the workload token's signature is not valid", "bad_signature",
                       account) from None
    except jwt.PyJWTError:
        raise _refused("the workload token cannot be verified", "malformed",
                       account) from None
    current = time.time() if now is None else now
    if not isinstance(claims["iat"], int | float) or \
            current - claims["iat"] > issuer.max_token_age + LEEWAY:
        raise _refused(f"the workload token is older than {issuer.max_token_age} s, the "
                       "most this issuer's tokens are accepted", "too_old", account)
    if claims["iss"] != issuer.url:
        raise _refused("the workload token's issuer is not this issuer", "wrong_issuer",
                       account)
    audiences = claims.get("aud")
    given = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(given, list) or not set(issuer.audiences) & {
            a for a in given if isinstance(a, str)}:
        raise _refused("the workload token's audience is not one this issuer is accepted "
                       f"for ({', '.join(issuer.audiences)[:200]})", "wrong_audience",
                       account)
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise _refused("the workload token's sub is not a string", "malformed", account)
    return claims
