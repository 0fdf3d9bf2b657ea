"""Authentication: API key, password, access token and refresh token, each to a Principal.

Every failure raises the same `Unauthenticated("authentication required")`, whatever the
cause (malformed, unknown, wrong, disabled, expired, owner gone), so a caller learns nothing
about which keys or users exist; only its never-serialised fields (reason, the identity it
names) tell the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from iam.errors import Unauthenticated
from iam.identity import apikey_format, passwords
from iam.names import name_key
from iam.store.models import Account, ApiKey, ClaimRule, ServiceId, TrustedProfile, User, utcnow

Kind = Literal["ServiceId", "User", "Profile"]
PROFILE_PREFIX = "iam-Profile-"


@dataclass(frozen=True)
class Workload:
    """What a trusted profile's principal came from: the workload token's `iss` and `sub`
    and the claim rule that accepted it (for the audit trail)."""

    iss: str
    sub: str
    rule_id: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by one credential."""

    iam_id: str
    account_id: str
    kind: Kind
    name: str
    apikey_id: str | None = None
    is_owner: bool = False
    is_operator: bool = False
    credential: str = ""  # fingerprint bound into refresh tokens (see password_fingerprint)
    expires_at: datetime | None = None  # when the API key it came from expires (None: never)
    workload: Workload | None = None  # a trusted profile's: the token it was exchanged for


def kind_of(iam_id: str) -> Kind:
    if iam_id.startswith(PROFILE_PREFIX):
        return "Profile"
    return "ServiceId" if iam_id.startswith("iam-ServiceId-") else "User"


def rule_fingerprint(rule_id: str, entity_tag: str) -> str:
    """Bound into a trusted profile's access tokens: a change to the rule ends them."""
    return f"{rule_id}:{entity_tag}"


def _profile_from_claims(session: Session, claims: dict[str, Any],
                         named: dict[str, str]) -> Principal:
    """A trusted profile's access token: the profile and the rule that let it in must
    still be as they were (a changed or deleted rule ends the session)."""
    rule_id, _, tag = str(claims.get("rule", "")).partition(":")
    profile = session.exec(select(TrustedProfile).where(
        TrustedProfile.iam_id == named["iam_id"])).first()
    rule = session.get(ClaimRule, rule_id) if rule_id and "\x00" not in rule_id else None
    if profile is None or profile.account_id != named["account_id"]:
        raise Unauthenticated(reason="owner_gone", **named)
    if rule is None or rule.profile_id != profile.id or not hmac.compare_digest(
            rule.entity_tag, tag):
        raise Unauthenticated(reason="rule_changed", **named)
    account = session.get(Account, profile.account_id)
    if account is None:
        raise Unauthenticated(reason="owner_gone", **named)
    exp = claims.get("exp")
    return Principal(iam_id=profile.iam_id, account_id=account.id, kind="Profile",
                     name=profile.name, credential=rule_fingerprint(rule.id, rule.entity_tag),
                     expires_at=datetime.fromtimestamp(exp, UTC)
                     if isinstance(exp, int | float) else None)


def password_fingerprint(password_hash: str) -> str:
    """Changes whenever the password does, so refresh tokens die with the old password."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _principal(account: Account, iam_id: str, name: str, *, key: ApiKey | None = None,
               credential: str = "") -> Principal:
    return Principal(
        iam_id=iam_id, account_id=account.id, kind=kind_of(iam_id), name=name,
        apikey_id=key.id if key is not None else None, is_owner=account.owner_iam_id == iam_id,
        is_operator=account.is_system and account.owner_iam_id == iam_id,
        credential=credential, expires_at=key.expires_at if key is not None else None,
    )


# The key, its account and its owner's name, by digest or by id. Built once, the value a
# bound parameter: building the four-table statement (and its cache key) on every call made
# each API key authentication ~1.7x slower (see BENCHMARKS.md, "Profile").
_KEY_WITH_OWNER = (
    select(ApiKey, Account, ServiceId.name, User.name)
    .join(Account, col(Account.id) == ApiKey.account_id)
    .outerjoin(ServiceId, col(ServiceId.iam_id) == ApiKey.iam_id)
    .outerjoin(User, col(User.iam_id) == ApiKey.iam_id)
)
_KEY_BY_DIGEST = _KEY_WITH_OWNER.where(col(ApiKey.key_hash) == bindparam("value"))
_KEY_BY_ID = _KEY_WITH_OWNER.where(col(ApiKey.id) == bindparam("value"))


def _key_row(session: Session, query: Any, value: str, *,
             missing: str) -> tuple[ApiKey, Account, str]:
    """The key, its account and its owner's name, in one indexed query; Unauthenticated
    (`missing` as the reason) without a key, `owner_gone` when its owner no longer exists."""
    row = session.exec(query, params={"value": value}).first()
    if row is None:
        raise Unauthenticated(reason=missing)
    key, account, sid_name, user_name = row
    owner_name = sid_name if sid_name is not None else user_name
    if owner_name is None:
        raise _refused("owner_gone", key)
    return key, account, owner_name


def _refused(reason: str, key: ApiKey) -> Unauthenticated:
    return Unauthenticated(reason=reason, account_id=key.account_id, iam_id=key.iam_id,
                           apikey_id=key.id)


def _check_usable(key: ApiKey) -> None:
    if key.disabled:
        raise _refused("disabled", key)
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise _refused("expired", key)


def check_key_shape(value: str) -> None:
    """Unauthenticated when a presented value cannot be an API key (no look-up for it)."""
    if not apikey_format.is_well_formed(value):
        raise Unauthenticated(reason="malformed")


def principal_of_digest(session: Session, digest: str) -> Principal:
    """The principal behind a usable key."""
    key, account, owner_name = _key_row(session, _KEY_BY_DIGEST, digest, missing="unknown_key")
    if not hmac.compare_digest(key.key_hash, digest):
        raise Unauthenticated(reason="unknown_key")
    _check_usable(key)
    return _principal(account, key.iam_id, owner_name, key=key)


def _find_user(session: Session, username: str, account_id: str | None) -> User | None:
    """`name`, or `name@account_id` when the same name exists in several accounts; the name
    by its key, as users are unique by it (`RTAlice` and full-width `rtalice` find `rtalice`)."""
    if account_id is None and "@" in username:
        username, _, account_id = username.rpartition("@")

    if "\x00" in username or (account_id is not None and "\x00" in account_id):
        return None  # no such name; PostgreSQL would refuse even to search for it
    query = select(User).where(User.name_key == name_key(username.strip()))
    if account_id is not None:
        query = query.where(User.account_id == account_id)
    users = session.exec(query.limit(2)).all()
    return users[0] if len(users) == 1 else None


def authenticate_password(session: Session, *, username: str, password: str,
                          account_id: str | None = None) -> Principal:
    user = _find_user(session, username, account_id)
    ok = passwords.verify_password(password, user.password_hash if user else None)
    if user is None:
        raise Unauthenticated(reason="unknown_user")
    if not ok:
        raise Unauthenticated(reason="wrong_password", account_id=user.account_id,
                              iam_id=user.iam_id)
    account = session.get(Account, user.account_id)
    if account is None:
        raise Unauthenticated(reason="owner_gone", account_id=user.account_id,
                              iam_id=user.iam_id)
    return _principal(account, user.iam_id, user.name,
                      credential=password_fingerprint(user.password_hash))


def principal_from_claims(session: Session, claims: dict[str, Any]) -> Principal:
    """Re-check that the identity and credential behind a token are still valid."""
    iam_id = str(claims.get("sub", ""))
    apikey_id = claims.get("apikey_id")
    # The claims are signed by us: the identity they name is the one to tell about a refusal.
    named = {"account_id": str(claims.get("account", "")), "iam_id": iam_id}
    if iam_id.startswith(PROFILE_PREFIX):
        return _profile_from_claims(session, claims, named)
    if apikey_id:
        try:
            key, account, owner_name = _key_row(session, _KEY_BY_ID, str(apikey_id),
                                                missing="key_gone")
        except Unauthenticated as exc:
            raise Unauthenticated(reason=exc.reason, apikey_id=str(apikey_id)[:64],
                                  **named) from None
        if key.iam_id != iam_id:
            raise Unauthenticated(reason="bad_token", apikey_id=key.id, **named)
        _check_usable(key)
        return _principal(account, iam_id, owner_name, key=key)
    user = session.get(User, iam_id)
    if user is None:
        raise Unauthenticated(reason="owner_gone", **named)
    fingerprint = password_fingerprint(user.password_hash)
    if not hmac.compare_digest(str(claims.get("pwd", "")), fingerprint):
        raise Unauthenticated(reason="password_changed", **named)
    user_account = session.get(Account, user.account_id)
    if user_account is None or user_account.id != claims.get("account"):
        raise Unauthenticated(reason="owner_gone", **named)
    return _principal(user_account, user.iam_id, user.name, credential=fingerprint)
