"""A workload token (a CI job's or a pod's OIDC JWT), checked against the issuer that the
account registered for its `iss`.

`peek` reads the header and claims unverified, only to find the issuer (and is bounded:
at most `MAX_TOKEN` characters; every segment strict base64url JSON). `verify` then
checks, in this order: the algorithm (one the issuer allows, and the key's own: RS256 or
ES256, never `none` or HMAC), the signature with the issuer's key for the token's `kid`,
`exp`, `nbf` and `iat` with `LEEWAY` seconds, the token's age (`iat` at most the issuer's
`max_token_age` ago), `iss`, an `aud` the issuer accepts and a `sub`. Every refusal says
what failed: the holder can read the token anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
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


def _segment(value: str) -> bytes:
    """One base64url segment of a JWT, strictly (no characters outside the alphabet)."""
    return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str, bytes]:
    """Header, claims, signing input and signature of a compact JWS, unverified."""
    signing_input, _, signature = token.rpartition(".")
    head, _, body = signing_input.partition(".")
    try:
        header, claims = json.loads(_segment(head)), json.loads(_segment(body))
        raw_signature = _segment(signature)
    except (ValueError, binascii.Error):
        raise _refused("the workload token is not a JWT", "malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "." in body:
        raise _refused("the workload token is not a JWT", "malformed")
    return header, claims, signing_input, raw_signature


def peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, unverified; WorkloadTokenRefused if it is no JWT."""
    if len(token) > MAX_TOKEN:
        raise _refused(f"the workload token is longer than {MAX_TOKEN} characters",
                       "malformed")
    header, claims, _, _ = _parts(token)
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


def _number(claims: Mapping[str, Any], name: str, account: str) -> float:
    value = claims.get(name)
    if value is None:
        raise _refused(f"the workload token lacks the {name} claim", "malformed", account)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refused(f"the workload token's {name} is not a number", "malformed", account)
    return float(value)


def verify(token: str, header: Mapping[str, Any], issuer: IssuerRecord, key: jwt.PyJWK, *,
           now: float | None = None) -> dict[str, Any]:
    """The claims of a token the issuer signed and that is valid now, or the refusal.
    The signature is checked by the key's own algorithm (PyJWT's), the claims here."""
    alg = algorithm(header, issuer)
    account = issuer.account_id
    if key.algorithm_name != alg:
        raise _refused(f"the workload token says {alg} but its key is for "
                       f"{key.algorithm_name}", "bad_algorithm", account)
    _, claims, signing_input, signature = _parts(token)
    if not key.Algorithm.verify(signing_input.encode(), key.key, signature):
        raise _refused("the workload token's signature is not valid", "bad_signature",
                       account)
    current = time.time() if now is None else now
    if current > _number(claims, "exp", account) + LEEWAY:
        raise _refused("the workload token has expired", "expired", account)
    issued = _number(claims, "iat", account)
    not_before = _number(claims, "nbf", account) if "nbf" in claims else issued
    if current < issued - LEEWAY or current < not_before - LEEWAY:
        raise _refused("the workload token is not valid yet (nbf or iat in the future)",
                       "not_yet_valid", account)
    if current - issued > issuer.max_token_age + LEEWAY:
        raise _refused(f"the workload token is older than {issuer.max_token_age} s, the "
                       "most this issuer's tokens are accepted", "too_old", account)
    if claims.get("iss") != issuer.url:
        raise _refused("the workload token's issuer is not this issuer", "wrong_issuer",
                       account)
    audiences = claims.get("aud")
    given = [audiences] if isinstance(audiences, str) else audiences
    if not isinstance(given, list) or not set(issuer.audiences) & {
            a for a in given if isinstance(a, str)}:
        raise _refused("the workload token's audience is not one this issuer is accepted "
                       f"for ({', '.join(issuer.audiences)[:200]})", "wrong_audience",
                       account)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _refused("the workload token lacks a sub (a string)", "malformed", account)
    return claims
