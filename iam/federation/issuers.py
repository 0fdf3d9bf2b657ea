"""Issuers: the OIDC token issuers an account trusts (GitHub Actions, a GitLab, a cluster).

An administrator registers one per `iss`: the audiences it accepts (a workload chooses its
token's `aud`, so the account pins it), the algorithms allowed (RS256, ES256; never `none`
or HMAC), the oldest token accepted, and its keys: a static JWKS (air-gapped) or, without
one, OIDC discovery. The URL is https, unless registered with `allow_http` (labs, tests).
A claim rule names its issuer by URL; an issuer that rules name cannot be deleted, and
changing one changes who may become those rules' profiles (the routes apply the
non-escalation rule over them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
from sqlmodel import Session, col, select

from iam.errors import Conflict, InvalidInput
from iam.names import clean_description
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import ClaimRule, Issuer, new_tag, utcnow

KIND = "issuer"
ALGORITHMS = ("RS256", "ES256")
MAX_URL = 1024
MAX_AUDIENCES = 16
MAX_KEYS = 32
DEFAULT_MAX_TOKEN_AGE = 3600
TOKEN_AGE_RANGE = (60, 86400)


@dataclass(frozen=True)
class IssuerRecord:
    """An issuer as the token path uses it (a copy, valid beyond its session)."""

    id: str
    account_id: str
    url: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    jwks: Mapping[str, Any] | None
    allow_http: bool
    max_token_age: int
    entity_tag: str

    @classmethod
    def of(cls, row: Issuer) -> IssuerRecord:
        return cls(id=row.id, account_id=row.account_id, url=row.url,
                   audiences=tuple(json.loads(row.audiences)),
                   algorithms=tuple(a for a in row.algorithms.split(",") if a),
                   jwks=json.loads(row.jwks) if row.jwks else None,
                   allow_http=row.allow_http, max_token_age=row.max_token_age,
                   entity_tag=row.entity_tag)


def check_url(url: str, *, allow_http: bool, field: str = "url") -> str:
    """An issuer (or key) URL: https (http only with `allow_http`), a host, no user info,
    query or fragment."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or url != url.strip():
        raise InvalidInput(f"{field} must be a URL of at most {MAX_URL} characters",
                           target=field)
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput(f"{field} must not contain spaces or control characters",
                           target=field)
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput(f"{field} must be an https:// URL with a host", target=field)
    if parts.scheme == "http" and not allow_http:
        raise InvalidInput(f"{field} is plain http: keys fetched over it could be forged "
                           "on the way; use https, or register with allow_http (labs and "
                           "tests only)", target=field)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput(f"{field} must carry no user, query or fragment", target=field)
    return url


def _audiences(values: Sequence[str]) -> list[str]:
    if not values or len(values) > MAX_AUDIENCES:
        raise InvalidInput(f"an issuer accepts 1 to {MAX_AUDIENCES} audiences",
                           target="audiences")
    for value in values:
        if not value or len(value) > 256 or any(ord(c) < 32 for c in value):
            raise InvalidInput("each audience is 1 to 256 printable characters",
                               target="audiences")
    return list(dict.fromkeys(values))


def _algorithms(values: Sequence[str] | None) -> str:
    chosen = list(dict.fromkeys(values or ALGORITHMS))
    bad = [a for a in chosen if a not in ALGORITHMS]
    if bad or not chosen:
        raise InvalidInput(f"algorithms are among {', '.join(ALGORITHMS)} (never none or "
                           f"HMAC); not {', '.join(str(b)[:20] for b in bad)}",
                           target="algorithms")
    return ",".join(chosen)


def usable_keys(jwks: Any) -> dict[str, jwt.PyJWK]:
    """The signature keys of a JWKS, by kid: RSA (RS256) and EC P-256 (ES256) public keys;
    others (encryption keys, other curves) are left out."""
    keys: dict[str, jwt.PyJWK] = {}
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        return keys
    for item in jwks["keys"][:MAX_KEYS]:
        if not isinstance(item, Mapping) or item.get("use", "sig") != "sig":
            continue
        alg = item.get("alg") or {"RSA": "RS256", "EC": "ES256"}.get(str(item.get("kty")))
        if alg not in ALGORITHMS or (alg == "ES256" and item.get("crv") != "P-256"):
            continue
        try:
            keys[str(item.get("kid", ""))] = jwt.PyJWK(dict(item), algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    return keys


def _static_jwks(jwks: Mapping[str, Any]) -> str:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
        raise InvalidInput(f"jwks is a JWK Set: {{\"keys\": [1 to {MAX_KEYS} keys]}}",
                           target="jwks")
    if any(isinstance(k, Mapping) and ("d" in k or "p" in k) for k in keys):
        raise InvalidInput("jwks holds private key material; give the public keys only",
                           target="jwks")
    if len(usable_keys(jwks)) != len(keys):
        raise InvalidInput("every key of jwks must be an RSA or EC P-256 signature key "
                           "(with a kid when there are several)", target="jwks")
    return json.dumps(dict(jwks), separators=(",", ":"))


def _max_age(value: int | None) -> int:
    low, high = TOKEN_AGE_RANGE
    if value is None:
        return DEFAULT_MAX_TOKEN_AGE
    if not low <= value <= high:
        raise InvalidInput(f"max_token_age is {low} to {high} seconds", target="max_token_age")
    return value


def create_issuer(session: Session, *, journal: ChangeJournal, account_id: str, url: str,
                  audiences: Sequence[str], algorithms: Sequence[str] | None = None,
                  jwks: Mapping[str, Any] | None = None, allow_http: bool = False,
                  max_token_age: int | None = None, description: str | None = None) -> Issuer:
    now = utcnow()
    row = Issuer(id=f"Issuer-{uuid.uuid4()}", account_id=account_id,
                 url=check_url(url, allow_http=allow_http),
                 audiences=json.dumps(_audiences(audiences)),
                 algorithms=_algorithms(algorithms),
                 jwks=_static_jwks(jwks) if jwks is not None else None,
                 static_jwks=jwks is not None, allow_http=allow_http,
                 max_token_age=_max_age(max_token_age),
                 description=clean_description(description), created_at=now,
                 modified_at=now, entity_tag=new_tag())
    return rows.insert(session, row, kind=KIND, journal=journal, conflict=lambda: Conflict(
        f"issuer {url[:200]} is already registered in this account", target="url"))


def get_issuer(session: Session, *, account_id: str, issuer_id: str) -> Issuer:
    """By `Issuer-...` id or by URL."""
    column = "id" if issuer_id.startswith("Issuer-") else "url"
    return rows.get_in_account(session, Issuer, issuer_id, account_id=account_id, kind=KIND,
                               key_column=column)


def list_issuers(session: Session, *, account_id: str, limit: int,
                 start: str | None) -> rows.Paged[Issuer]:
    query = select(Issuer).where(Issuer.account_id == account_id)
    return rows.page(session, query, key=col(Issuer.id), limit=limit, start=start)


def update_issuer(session: Session, *, journal: ChangeJournal, account_id: str,
                  issuer_id: str, if_match: str | None, audiences: Sequence[str] | None = None,
                  algorithms: Sequence[str] | None = None,
                  jwks: Mapping[str, Any] | None = None, discovery: bool = False,
                  max_token_age: int | None = None, description: str | None = None) -> Issuer:
    """Change what is accepted; the URL stays (rules name it). `jwks` makes the keys
    static, `discovery` makes them discovered again."""
    row = get_issuer(session, account_id=account_id, issuer_id=issuer_id)
    values: dict[str, Any] = {}
    if audiences is not None:
        values["audiences"] = json.dumps(_audiences(audiences))
    if algorithms is not None:
        values["algorithms"] = _algorithms(algorithms)
    if jwks is not None and discovery:
        raise InvalidInput("give jwks (static keys) or discovery, not both", target="jwks")
    if jwks is not None:
        values.update(jwks=_static_jwks(jwks), static_jwks=True)
    if discovery:
        values.update(jwks=None, static_jwks=False)
    if max_token_age is not None:
        values["max_token_age"] = _max_age(max_token_age)
    if description is not None:
        values["description"] = clean_description(description)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=values, respect_lock=False)
    return row


def rules_naming(session: Session, *, account_id: str, url: str) -> list[ClaimRule]:
    return list(session.exec(select(ClaimRule).where(
        ClaimRule.issuer_url == url, ClaimRule.account_id == account_id)).all())


def delete_issuer(session: Session, *, journal: ChangeJournal, account_id: str,
                  issuer_id: str) -> None:
    """Refused while a claim rule names it: registering the URL again with other keys must
    not inherit who could become those rules' profiles."""
    row = get_issuer(session, account_id=account_id, issuer_id=issuer_id)
    naming = rules_naming(session, account_id=account_id, url=row.url)
    if naming:
        listed = ", ".join(r.id for r in naming[:5])
        raise Conflict(f"{len(naming)} claim rules name this issuer ({listed}); delete them "
                       "first", target=KIND)
    rows.delete_row(session, row, kind=KIND, journal=journal)
