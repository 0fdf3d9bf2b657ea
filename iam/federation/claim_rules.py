"""Claim rules: who may become a trusted profile (IBM's `/v1/profiles/{id}/rules`).

A rule names its issuer by URL (one the account registered), a `type` (`Profile-OIDC`: a
workload's OIDC token; IBM's `Profile-SAML` and `Profile-CR` are not offered here), the
most seconds a session it opens may last (`expiration`) and conditions on the token's
claims, every one of which must hold (`iam.federation.conditions`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from iam.errors import InvalidInput, NotFound
from iam.federation import conditions
from iam.federation.conditions import Condition
from iam.federation.issuers import get_issuer
from iam.names import clean_name
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import ClaimRule, Issuer, new_tag, utcnow

KIND = "claim rule"
OIDC = "Profile-OIDC"
NOT_OFFERED = ("Profile-SAML", "Profile-CR")
DEFAULT_EXPIRATION = 3600
EXPIRATION_RANGE = (60, 43200)
MAX_RULES = 64


@dataclass(frozen=True)
class RuleSpec:
    """A rule as asked for; `checked` validates it against the account."""

    name: str
    issuer: str
    conditions: Any  # their JSON form, parsed by `checked`
    type: str = OIDC
    expiration: int | None = None


@dataclass(frozen=True)
class CheckedRule:
    name: str
    issuer_url: str
    conditions: tuple[Condition, ...]
    type: str
    expiration: int


def checked(session: Session, spec: RuleSpec, *, account_id: str) -> CheckedRule:
    if spec.type != OIDC:
        hint = " (SAML and compute-resource rules are IBM Cloud's)" \
            if spec.type in NOT_OFFERED else ""
        raise InvalidInput(f"type {spec.type[:40]!r} is not offered{hint}; use {OIDC}",
                           target="type")
    low, high = EXPIRATION_RANGE
    expiration = DEFAULT_EXPIRATION if spec.expiration is None else spec.expiration
    if not low <= expiration <= high:
        raise InvalidInput(f"expiration is {low} to {high} seconds", target="expiration")
    try:
        issuer = get_issuer(session, account_id=account_id, issuer_id=spec.issuer)
    except NotFound:
        raise NotFound(f"issuer {spec.issuer[:200]} is not registered in this account; "
                       "register it first (POST /v1/issuers)", target="issuer") from None
    return CheckedRule(name=clean_name(spec.name), issuer_url=issuer.url,
                       conditions=conditions.parse(spec.conditions), type=spec.type,
                       expiration=expiration)


def _values(rule: CheckedRule) -> dict[str, Any]:
    return {"name": rule.name, "type": rule.type, "issuer_url": rule.issuer_url,
            "expiration": rule.expiration, "conditions": conditions.dump(rule.conditions)}


def create_rule(session: Session, *, journal: ChangeJournal, account_id: str,
                profile_id: str, rule: CheckedRule) -> ClaimRule:
    held = session.exec(select(ClaimRule.id).where(ClaimRule.profile_id == profile_id)).all()
    if len(held) >= MAX_RULES:
        raise InvalidInput(f"a trusted profile has at most {MAX_RULES} rules", target="rule")
    now = utcnow()
    row = ClaimRule(id=f"ClaimRule-{uuid.uuid4()}", profile_id=profile_id,
                    account_id=account_id, created_at=now, modified_at=now,
                    entity_tag=new_tag(), **_values(rule))
    return rows.insert(session, row, kind=KIND, journal=journal)


def get_rule(session: Session, *, account_id: str, profile_id: str, rule_id: str) -> ClaimRule:
    row = rows.get_in_account(session, ClaimRule, rule_id, account_id=account_id, kind=KIND)
    if row.profile_id != profile_id:
        raise NotFound(f"{KIND} {rule_id} not found", target=KIND)
    return row


def list_rules(session: Session, *, account_id: str, profile_id: str) -> list[ClaimRule]:
    return list(session.exec(select(ClaimRule).where(
        ClaimRule.profile_id == profile_id, ClaimRule.account_id == account_id)
        .order_by(col(ClaimRule.id))).all())


def update_rule(session: Session, *, journal: ChangeJournal, account_id: str, profile_id: str,
                rule_id: str, if_match: str | None, rule: CheckedRule) -> ClaimRule:
    """Replace the rule (IBM's PUT); sessions it opened end with the change."""
    row = get_rule(session, account_id=account_id, profile_id=profile_id, rule_id=rule_id)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=_values(rule), respect_lock=False)
    return row


def delete_rule(session: Session, *, journal: ChangeJournal, account_id: str,
                profile_id: str, rule_id: str) -> None:
    row = get_rule(session, account_id=account_id, profile_id=profile_id, rule_id=rule_id)
    rows.delete_row(session, row, kind=KIND, journal=journal)


def issuer_of(session: Session, rule: ClaimRule) -> Issuer | None:
    return session.exec(select(Issuer).where(Issuer.url == rule.issuer_url,
                                             Issuer.account_id == rule.account_id)).first()
