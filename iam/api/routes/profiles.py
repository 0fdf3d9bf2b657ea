"""`/v1/profiles`: trusted profiles, their claim rules (`/rules`), and the test of a token
against them (`/test`), in IBM's shapes. Policies on a profile go through `/v1/policies`
with its `iam_id` as subject; memberships through `/v1/groups/{id}/members`."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlmodel import Session

from iam.access import guard
from iam.access.delegation import Authority
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.federation_schemas import (
    ProfileCreate,
    ProfilePublic,
    ProfileTest,
    ProfileTestAnswer,
    ProfileUpdate,
    RuleBody,
    RuleList,
    RulePublic,
)
from iam.api.schemas import Page, page_of
from iam.federation import claim_rules, explain, profiles
from iam.identity.authn import Principal
from iam.runtime import Runtime
from iam.store.models import TrustedProfile

router = APIRouter(prefix="/v1/profiles", tags=["trusted profiles"])
READ = "iam-identity.profile.get"
UPDATE = "iam-identity.profile.update"


def _to_change(session: Session, runtime: Runtime, caller: Principal, action: str,
               profile_id: str) -> TrustedProfile:
    """The profile, once the caller holds `action` and could grant all it holds."""
    guard.require(session, runtime.roles, caller, action)
    row = profiles.get_profile(session, account_id=caller.account_id, profile_id=profile_id)
    Authority.of(session, runtime.roles, caller).require_identity(session, row.iam_id)
    return row


def _to_read(session: Session, runtime: Runtime, caller: Principal,
             profile_id: str) -> TrustedProfile:
    guard.require(session, runtime.roles, caller, READ)
    return profiles.get_profile(session, account_id=caller.account_id, profile_id=profile_id)


@router.post("", status_code=201)
def create_profile(body: ProfileCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> ProfilePublic:
    """Create a trusted profile (it holds nothing until given policies)."""
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.profile.create")
        row = profiles.create_profile(session, journal=journal, account_id=caller.account_id,
                                      name=body.name, description=body.description)
    return ProfilePublic.of(row)


@router.get("")
def list_profiles(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
                  pagestart: PageStart = None, name: str | None = None) -> Page[ProfilePublic]:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.profile.list")
        found = profiles.list_profiles(session, account_id=caller.account_id, limit=limit,
                                       start=pagestart, name=name)
    return page_of(found, ProfilePublic.of, limit=limit)


@router.get("/{profile_id}")
def read_profile(profile_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                 response: Response) -> ProfilePublic:
    with runtime.read() as session:
        row = _to_read(session, runtime, caller, profile_id)
    response.headers["ETag"] = row.entity_tag
    return ProfilePublic.of(row)


@router.put("/{profile_id}")
def update_profile(profile_id: str, body: ProfileUpdate, caller: CurrentPrincipal,
                   runtime: RuntimeDep, journal: JournalDep,
                   if_match: IfMatch = None) -> ProfilePublic:
    """Rename or re-describe; needs `If-Match: <entity_tag>`."""
    with runtime.write() as session:
        _to_change(session, runtime, caller, UPDATE, profile_id)
        row = profiles.update_profile(session, journal=journal, account_id=caller.account_id,
                                      profile_id=profile_id, if_match=if_match,
                                      name=body.name, description=body.description)
    return ProfilePublic.of(row)


@router.delete("/{profile_id}", status_code=204)
def delete_profile(profile_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> None:
    """Delete with its claim rules, memberships and policies."""
    with runtime.write() as session:
        _to_change(session, runtime, caller, "iam-identity.profile.delete", profile_id)
        profiles.delete_profile(session, journal=journal, account_id=caller.account_id,
                                profile_id=profile_id)


@router.post("/{profile_id}/rules", status_code=201)
def create_rule(profile_id: str, body: RuleBody, caller: CurrentPrincipal,
                runtime: RuntimeDep, journal: JournalDep) -> RulePublic:
    """Who may become the profile: a token of `issuer` meeting every condition."""
    with runtime.write() as session:
        profile = _to_change(session, runtime, caller, UPDATE, profile_id)
        rule = claim_rules.checked(session, body.spec(), account_id=caller.account_id)
        row = claim_rules.create_rule(session, journal=journal, account_id=caller.account_id,
                                      profile_id=profile.id, rule=rule)
    return RulePublic.of(row)


@router.get("/{profile_id}/rules")
def list_rules(profile_id: str, caller: CurrentPrincipal, runtime: RuntimeDep) -> RuleList:
    with runtime.read() as session:
        profile = _to_read(session, runtime, caller, profile_id)
        found = claim_rules.list_rules(session, account_id=caller.account_id,
                                       profile_id=profile.id)
    return RuleList(data=[RulePublic.of(r) for r in found], count=len(found))


@router.get("/{profile_id}/rules/{rule_id}")
def read_rule(profile_id: str, rule_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
              response: Response) -> RulePublic:
    with runtime.read() as session:
        profile = _to_read(session, runtime, caller, profile_id)
        row = claim_rules.get_rule(session, account_id=caller.account_id,
                                   profile_id=profile.id, rule_id=rule_id)
    response.headers["ETag"] = row.entity_tag
    return RulePublic.of(row)


@router.put("/{profile_id}/rules/{rule_id}")
def update_rule(profile_id: str, rule_id: str, body: RuleBody, caller: CurrentPrincipal,
                runtime: RuntimeDep, journal: JournalDep,
                if_match: IfMatch = None) -> RulePublic:
    """Replace a rule; needs `If-Match`. Sessions it opened end (their tokens name it)."""
    with runtime.write() as session:
        profile = _to_change(session, runtime, caller, UPDATE, profile_id)
        rule = claim_rules.checked(session, body.spec(), account_id=caller.account_id)
        row = claim_rules.update_rule(session, journal=journal, account_id=caller.account_id,
                                      profile_id=profile.id, rule_id=rule_id,
                                      if_match=if_match, rule=rule)
    return RulePublic.of(row)


@router.delete("/{profile_id}/rules/{rule_id}", status_code=204)
def delete_rule(profile_id: str, rule_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                journal: JournalDep) -> None:
    with runtime.write() as session:
        profile = _to_change(session, runtime, caller, UPDATE, profile_id)
        claim_rules.delete_rule(session, journal=journal, account_id=caller.account_id,
                                profile_id=profile.id, rule_id=rule_id)


@router.post("/{profile_id}/test")
def test_token(profile_id: str, body: ProfileTest, caller: CurrentPrincipal,
               runtime: RuntimeDep, journal: JournalDep) -> ProfileTestAnswer:
    """Would this workload token become the profile? Which rule matches, or for each rule
    what fails (the token's check or its conditions). Audited with the call."""
    with runtime.read() as session:
        profile = _to_read(session, runtime, caller, profile_id)
        rules = claim_rules.list_rules(session, account_id=caller.account_id,
                                       profile_id=profile.id)
        verdict = explain.test_token(session, runtime.issuer_keys, rules, body.token)
    answer = ProfileTestAnswer.of(verdict)
    journal.record("profile test", after={"profile_id": profile.id, **answer.model_dump()})
    return answer
