"""`trusted-profile-test`: would this token become this profile, and if not, why not.

For each rule of the profile: whether the token is of the rule's issuer and passes its
checks (signature, times, audience: `workload_tokens`), and which conditions fail. The
keys are fetched as the exchange would (through the same cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from iam.errors import WorkloadTokenRefused
from iam.federation import claim_rules, conditions, workload_tokens
from iam.federation.issuer_keys import IssuerKeys
from iam.federation.issuers import IssuerRecord
from iam.store.models import ClaimRule


@dataclass(frozen=True)
class RuleVerdict:
    rule_id: str
    name: str
    issuer: str
    matched: bool
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    matched_rule: str | None
    rules: list[RuleVerdict]
    token_problem: str | None = None


def test_token(session: Session, keys: IssuerKeys, rules: list[ClaimRule],
               token: str) -> Verdict:
    try:
        header, unverified = workload_tokens.peek(token)
    except WorkloadTokenRefused as exc:
        return Verdict(None, [], exc.message)
    iss = unverified["iss"]
    verdicts = []
    for rule in rules:
        def verdict(*why: str, rule: ClaimRule = rule) -> RuleVerdict:
            return RuleVerdict(rule.id, rule.name, rule.issuer_url, not why, list(why))

        if rule.issuer_url != iss:
            verdicts.append(verdict(f"the token's issuer is {iss[:200]}, not this rule's"))
            continue
        row = claim_rules.issuer_of(session, rule)
        if row is None:
            verdicts.append(verdict("the rule's issuer is no longer registered"))
            continue
        issuer = IssuerRecord.of(row)
        try:
            workload_tokens.algorithm(header, issuer)
            key = keys.key_for(issuer, str(header.get("kid") or ""), may_fetch=True)
            claims = workload_tokens.verify(token, header, issuer, key)
        except WorkloadTokenRefused as exc:
            verdicts.append(verdict(exc.message))
            continue
        verdicts.append(verdict(*conditions.failures(conditions.load(rule.conditions),
                                                     claims)))
    matched = next((v.rule_id for v in verdicts if v.matched), None)
    problem = None if rules else "this profile has no claim rule"
    return Verdict(matched, verdicts, problem)
