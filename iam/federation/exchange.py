"""A workload token exchanged for a trusted profile's principal.

One direction: `peek` the token's `iss` -> the accounts that registered that issuer and
their claim rules naming it (`Trust`, read once per authorization generation through the
cache; nothing is kept for an issuer no account registered) -> the rules of the profile
asked for (`iamprofile/<id or name>`, `profile_id`/`profile_name`), or of every profile ->
the token verified with each such account's keys for it (`issuer_keys`, `workload_tokens`)
-> the rules whose conditions all hold. Exactly one profile must be left; its principal
lives no longer than the token, the rule's `expiration` and the cached keys it was
verified with.

Refusals say what is wrong with the token (its holder can read it), never which profiles
or rules exist: no match, no profile of that name and several matching profiles when none
was named read alike but for the last, which asks to name one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from iam.errors import WorkloadTokenRefused
from iam.federation import conditions, workload_tokens
from iam.federation.conditions import Condition
from iam.federation.issuer_keys import IssuerKeys
from iam.federation.issuers import IssuerRecord
from iam.identity.authn import Principal, Workload, rule_fingerprint
from iam.names import name_key
from iam.store.generation_cache import AuthCache, SessionFor
from iam.store.models import ClaimRule, Issuer, TrustedProfile

NO_MATCH = "no trusted profile accepts this token"


@dataclass(frozen=True)
class RuleRecord:
    id: str
    entity_tag: str
    expiration: int
    conditions: tuple[Condition, ...]
    profile_id: str
    profile_iam_id: str
    profile_name: str
    profile_key: str


@dataclass(frozen=True)
class Trust:
    """One account's registration of an issuer and its rules naming it."""

    issuer: IssuerRecord
    rules: tuple[RuleRecord, ...]


def read_trusts(session: Session, iss: str) -> tuple[Trust, ...]:
    """Every account's registration of `iss` that some claim rule names (two indexed
    reads, by URL); WorkloadTokenRefused (and so nothing cached) when there is none."""
    if "\x00" in iss or len(iss) > 1024:
        raise WorkloadTokenRefused(NO_MATCH, reason="unknown_issuer")
    issuers = session.exec(select(Issuer).where(Issuer.url == iss)).all()
    found = session.exec(select(ClaimRule, TrustedProfile)
                         .join(TrustedProfile, col(TrustedProfile.id) == ClaimRule.profile_id)
                         .where(ClaimRule.issuer_url == iss)).all()
    by_account: dict[str, list[RuleRecord]] = {}
    for rule, profile in found:
        if rule.account_id != profile.account_id:
            continue
        by_account.setdefault(rule.account_id, []).append(RuleRecord(
            id=rule.id, entity_tag=rule.entity_tag, expiration=rule.expiration,
            conditions=conditions.load(rule.conditions), profile_id=profile.id,
            profile_iam_id=profile.iam_id, profile_name=profile.name,
            profile_key=profile.name_key))
    trusts = tuple(Trust(IssuerRecord.of(i), tuple(sorted(by_account[i.account_id],
                                                         key=lambda r: r.id)))
                   for i in issuers if i.account_id in by_account)
    if not trusts:
        raise WorkloadTokenRefused(NO_MATCH, reason="unknown_issuer")
    return trusts


def _named(rule: RuleRecord, profile: str | None) -> bool:
    if profile is None:
        return True
    return profile in (rule.profile_id, rule.profile_iam_id) or \
        name_key(profile.strip()) == rule.profile_key


@dataclass(frozen=True)
class Match:
    principal: Principal
    claims: dict[str, Any]


@dataclass(frozen=True)
class Federation:
    """Workload token -> trusted profile, with the parts it uses (built once by the runtime)."""

    cache: AuthCache
    keys: IssuerKeys

    def trusts(self, session: SessionFor, iss: str) -> tuple[Trust, ...]:
        found: tuple[Trust, ...] = self.cache.through(
            self.cache.federated, iss, lambda: read_trusts(session(), iss))
        return found

    def candidates(self, session: SessionFor, iss: str, *, profile: str | None,
                   account: str | None) -> Iterator[Trust]:
        for trust in self.trusts(session, iss):
            if account is not None and trust.issuer.account_id != account:
                continue
            rules = tuple(r for r in trust.rules if _named(r, profile))
            if rules:
                yield Trust(trust.issuer, rules)

    def principal_of(self, session: SessionFor, token: str, *, profile: str | None = None,
                     account: str | None = None, database: bool = True) -> Principal:
        """The principal of the one profile whose rules accept `token`, or the refusal.
        `database=False`: from the cache, else NeedsDatabase (a read or a key fetch)."""
        return self.match(session, token, profile=profile, account=account,
                          database=database).principal

    def match(self, session: SessionFor, token: str, *, profile: str | None = None,
              account: str | None = None, database: bool = True) -> Match:
        header, unverified = workload_tokens.peek(token)
        iss = unverified["iss"]
        refusal: WorkloadTokenRefused | None = None
        matched: list[tuple[RuleRecord, Trust, dict[str, Any]]] = []
        asked: set[tuple[str, str]] = set()  # (account, profile) of the rules tried
        for trust in self.candidates(session, iss, profile=profile, account=account):
            asked |= {(trust.issuer.account_id, r.profile_iam_id) for r in trust.rules}
            try:
                workload_tokens.algorithm(header, trust.issuer)
                key = self.keys.key_for(trust.issuer, str(header.get("kid") or ""),
                                        may_fetch=database)
                claims = workload_tokens.verify(token, header, trust.issuer, key)
            except WorkloadTokenRefused as exc:
                refusal = refusal or exc
                continue
            matched += [(rule, trust, claims) for rule in trust.rules
                        if not conditions.failures(rule.conditions, claims)]
        profiles = {rule.profile_iam_id for rule, _, _ in matched}
        if len(profiles) > 1:
            raise WorkloadTokenRefused(
                "this token matches more than one trusted profile; name one: "
                "iamprofile/<profile name or id> (profile_id or profile_name)",
                reason="ambiguous_profile")
        if not matched:
            # The refusal goes to the trail of the one account (and profile, when one was
            # named) whose rules were tried; with several, to none of them.
            accounts = {account_id for account_id, _ in asked}
            who: dict[str, str] = {}
            if len(accounts) == 1:
                who["account_id"] = next(iter(accounts))
                if profile is not None and len(asked) == 1:
                    who["iam_id"] = next(iter(asked))[1]
            message, reason = ((refusal.message, refusal.reason) if refusal is not None
                               else (NO_MATCH, "no_matching_rule"))
            raise WorkloadTokenRefused(message, reason=reason, **who)
        rule, trust, claims = min(matched, key=lambda m: (m[0].expiration, m[0].id))
        ends = min(datetime.fromtimestamp(claims["exp"], UTC),
                   datetime.now(UTC) + timedelta(seconds=rule.expiration))
        keys_until = self.keys.valid_until(trust.issuer)
        if keys_until is not None:  # nor outlive the cached keys it was verified with
            ends = min(ends, datetime.fromtimestamp(keys_until, UTC))
        return Match(Principal(
            iam_id=rule.profile_iam_id, account_id=trust.issuer.account_id, kind="Profile",
            name=rule.profile_name, credential=rule_fingerprint(rule.id, rule.entity_tag),
            expires_at=ends, workload=Workload(iss=iss, sub=str(claims["sub"])[:256],
                                               rule_id=rule.id)), claims)
