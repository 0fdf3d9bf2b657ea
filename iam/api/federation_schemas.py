"""Request and response shapes of issuers, trusted profiles, claim rules and the token test
(IBM's `/v1/profiles` and `/v1/profiles/{id}/rules`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr

from iam.api.schemas import NamedCreate, NamedUpdate, Public, Strict
from iam.federation import conditions
from iam.federation.claim_rules import OIDC, RuleSpec
from iam.federation.explain import Verdict
from iam.store.models import ClaimRule, Issuer


class IssuerCreate(Strict):
    url: StrictStr = Field(max_length=1024, description="The issuer's `iss`, exactly")
    audiences: list[StrictStr] = Field(max_length=16,
                                       description="The `aud` values accepted (one needed)")
    algorithms: list[StrictStr] | None = Field(default=None, max_length=2,
                                               description="RS256, ES256 (default: both)")
    jwks: dict[str, Any] | None = Field(
        default=None, description="Static keys (a JWK Set); omitted: OIDC discovery")
    allow_http: StrictBool = Field(default=False, description="Plain http (labs, tests)")
    max_token_age: StrictInt | None = Field(
        default=None, description="Oldest `iat` accepted, seconds (60-86400; 3600)")
    description: StrictStr | None = Field(default=None, max_length=4096)


class IssuerUpdate(Strict):
    audiences: list[StrictStr] | None = Field(default=None, max_length=16)
    algorithms: list[StrictStr] | None = Field(default=None, max_length=2)
    jwks: dict[str, Any] | None = Field(default=None, description="Static keys from now on")
    discovery: StrictBool = Field(default=False, description="Discovered keys from now on")
    max_token_age: StrictInt | None = None
    description: StrictStr | None = Field(default=None, max_length=4096)


class IssuerPublic(BaseModel):
    id: str
    account_id: str
    url: str
    audiences: list[str]
    algorithms: list[str]
    keys: str = Field(description="`static` (the JWK Set given) or `discovery`")
    jwks: dict[str, Any] | None
    allow_http: bool
    max_token_age: int
    description: str
    created_at: datetime
    modified_at: datetime
    entity_tag: str

    @classmethod
    def of(cls, row: Issuer) -> IssuerPublic:
        return cls(id=row.id, account_id=row.account_id, url=row.url,
                   audiences=json.loads(row.audiences),
                   algorithms=[a for a in row.algorithms.split(",") if a],
                   keys="static" if row.static_jwks else "discovery",
                   jwks=json.loads(row.jwks) if row.jwks else None,
                   allow_http=row.allow_http, max_token_age=row.max_token_age,
                   description=row.description, created_at=row.created_at,
                   modified_at=row.modified_at, entity_tag=row.entity_tag)


class ProfileCreate(NamedCreate):
    pass


class ProfileUpdate(NamedUpdate):
    pass


class ProfilePublic(Public):
    id: str
    iam_id: str
    account_id: str
    name: str
    description: str
    created_at: datetime
    modified_at: datetime
    entity_tag: str


class ConditionBody(Strict):
    claim: StrictStr = Field(max_length=256,
                             description="A claim path, e.g. `repository` or "
                                         "`kubernetes.io.namespace`")
    operator: StrictStr = Field(max_length=32, description=", ".join(conditions.OPERATORS))
    value: StrictStr | list[StrictStr] = Field(description="A string; for IN a list")


class RuleBody(Strict):
    name: StrictStr = Field(max_length=4096)
    type: StrictStr = Field(default=OIDC, max_length=64)
    issuer: StrictStr = Field(max_length=1024, description="The issuer's URL (registered)")
    expiration: StrictInt | None = Field(
        default=None, description="Most seconds a session may last (60-43200; 3600)")
    conditions: list[ConditionBody] = Field(max_length=conditions.MAX_CONDITIONS,
                                            description="All must hold")

    def spec(self) -> RuleSpec:
        return RuleSpec(name=self.name, issuer=self.issuer, type=self.type,
                        expiration=self.expiration,
                        conditions=[c.model_dump() for c in self.conditions])


class RulePublic(BaseModel):
    id: str
    profile_id: str
    account_id: str
    name: str
    type: str
    issuer: str
    expiration: int
    conditions: list[dict[str, Any]]
    created_at: datetime
    modified_at: datetime
    entity_tag: str

    @classmethod
    def of(cls, row: ClaimRule) -> RulePublic:
        return cls(id=row.id, profile_id=row.profile_id, account_id=row.account_id,
                   name=row.name, type=row.type, issuer=row.issuer_url,
                   expiration=row.expiration, conditions=json.loads(row.conditions),
                   created_at=row.created_at, modified_at=row.modified_at,
                   entity_tag=row.entity_tag)


class RuleList(BaseModel):
    data: list[RulePublic]
    count: int


class ProfileTest(Strict):
    token: StrictStr = Field(max_length=8192, repr=False, description="A workload's JWT")


class RuleVerdictPublic(BaseModel):
    rule_id: str
    name: str
    issuer: str
    matched: bool
    failures: list[str] = Field(description="Why not: the token's check, or each "
                                            "condition that fails")


class ProfileTestAnswer(BaseModel):
    matched: bool
    matched_rule: str | None
    token_problem: str | None
    rules: list[RuleVerdictPublic]

    @classmethod
    def of(cls, verdict: Verdict) -> ProfileTestAnswer:
        return cls(matched=verdict.matched_rule is not None, matched_rule=verdict.matched_rule,
                   token_problem=verdict.token_problem,
                   rules=[RuleVerdictPublic(rule_id=v.rule_id, name=v.name, issuer=v.issuer,
                                            matched=v.matched, failures=v.failures)
                          for v in verdict.rules])
