"""Access policies: a subject (one identity or one access group) holds roles on a resource.

Everything stays inside one account: the subject, the group and the namespace must all be
the account's own (another account's look exactly like absent ones: NotFound). A second
policy for the same subject and the same resource is a Conflict naming the existing one:
change its roles with PUT instead. Roles are stored in the order of the roles file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from iam.access import authz, namespaces
from iam.access.groups import get_group, identity_exists
from iam.access.roles import RoleCatalog
from iam.errors import Conflict, InvalidInput, NotFound
from iam.store.journal import ChangeJournal
from iam.store.models import Policy, new_id, new_tag, utcnow
from iam.store.rows import Paged, delete_row, get_in_account, guarded_update, insert, page, page_of

KIND = "policy"
_REPOSITORY_GLOB = re.compile(r"[a-z0-9*?][a-z0-9._/*?-]{0,255}", re.ASCII)


@dataclass(frozen=True)
class PolicySpec:
    """A policy as asked for; `checked` turns it into one that may be written."""

    roles: tuple[str, ...]
    service: str
    subject_iam_id: str | None = None
    subject_group_id: str | None = None
    region: str = ""
    resource_type: str = ""
    resource: str = ""
    repository: str = ""

    def as_grant(self, policy_id: str = "") -> authz.Grant:
        return authz.Grant(policy_id=policy_id, roles=self.roles, service=self.service,
                           region=self.region, resource_type=self.resource_type,
                           resource=self.resource, repository=self.repository,
                           group_id=self.subject_group_id)


def spec_of(row: Policy) -> PolicySpec:
    return PolicySpec(roles=tuple(authz.split_roles(row.roles)), service=row.service,
                      subject_iam_id=row.subject_iam_id, subject_group_id=row.subject_group_id,
                      region=row.region, resource_type=row.resource_type,
                      resource=row.resource, repository=row.repository)


def _check_roles(catalog: RoleCatalog, spec: PolicySpec) -> tuple[str, ...]:
    svc = catalog.service(spec.service)
    if not spec.roles:
        raise InvalidInput("a policy needs at least one role", target="roles")
    for name in spec.roles:
        if name not in svc.roles:
            elsewhere = [s for s, other in catalog.services.items() if name in other.roles]
            hint = f" (a role of {', '.join(elsewhere)})" if elsewhere else ""
            raise InvalidInput(f"unknown role {name!r} for service {svc.service}{hint}; its "
                               f"roles are {', '.join(svc.roles)}", target="roles")
    return tuple(r for r in svc.roles if r in spec.roles)


def _check_resource(session: Session, catalog: RoleCatalog, spec: PolicySpec, *,
                    account_id: str) -> None:
    svc = catalog.service(spec.service)
    if spec.region and not svc.regional:
        raise InvalidInput(f"service {svc.service} is not regional: omit region",
                           target="region")
    namespaces.check_region(spec.region)
    if bool(spec.resource_type) != bool(spec.resource):
        raise InvalidInput("resource_type and resource go together (e.g. namespace + its "
                           "name); omit both for every namespace", target="resource")
    if spec.resource_type and spec.resource_type not in svc.resource_types:
        raise InvalidInput(f"service {svc.service} has no resource type "
                           f"{spec.resource_type!r}", target="resource_type")
    if spec.resource_type == authz.NAMESPACE:
        namespaces.check_name(spec.resource)
        held = namespaces.find_in_account(session, account_id=account_id, name=spec.resource,
                                          region=spec.region or None)
        if not held:
            raise NotFound(f"namespace {spec.resource} not found", target="resource")
    if spec.repository:
        if authz.NAMESPACE not in svc.resource_types:
            raise InvalidInput(f"service {svc.service} has no repositories",
                               target="repository")
        if not _REPOSITORY_GLOB.fullmatch(spec.repository) or ".." in spec.repository:
            raise InvalidInput("repository is a glob of the repository path inside the "
                               "namespace: lowercase letters, digits, '.', '_', '-', '/', "
                               "'*' and '?' (e.g. web-*)", target="repository")


def _check_subject(session: Session, spec: PolicySpec, *, account_id: str) -> None:
    if (spec.subject_iam_id is None) == (spec.subject_group_id is None):
        raise InvalidInput("the subject is one iam_id or one access_group_id", target="subject")
    if spec.subject_iam_id is not None:
        if not identity_exists(session, account_id=account_id, iam_id=spec.subject_iam_id):
            raise NotFound(f"identity {spec.subject_iam_id} not found", target="subject")
    elif spec.subject_group_id is not None:
        get_group(session, account_id=account_id, group_id=spec.subject_group_id)


def checked(session: Session, catalog: RoleCatalog, spec: PolicySpec, *,
            account_id: str) -> PolicySpec:
    """The spec with its roles in canonical order, or InvalidInput/NotFound."""
    roles = _check_roles(catalog, spec)
    _check_resource(session, catalog, spec, account_id=account_id)
    _check_subject(session, spec, account_id=account_id)
    return PolicySpec(roles=roles, service=spec.service, subject_iam_id=spec.subject_iam_id,
                      subject_group_id=spec.subject_group_id, region=spec.region,
                      resource_type=spec.resource_type, resource=spec.resource,
                      repository=spec.repository)


def _same_target(session: Session, spec: PolicySpec, *, account_id: str,
                 exclude: str | None = None) -> Policy | None:
    query = select(Policy).where(
        Policy.account_id == account_id, Policy.service == spec.service,
        Policy.region == spec.region, Policy.resource_type == spec.resource_type,
        Policy.resource == spec.resource, Policy.repository == spec.repository)
    if spec.subject_iam_id is not None:
        query = query.where(Policy.subject_iam_id == spec.subject_iam_id)
    else:
        query = query.where(Policy.subject_group_id == spec.subject_group_id)
    if exclude is not None:
        query = query.where(Policy.id != exclude)
    return session.exec(query).first()


def _duplicate(existing: Policy) -> Conflict:
    return Conflict(f"policy {existing.id} already gives this subject roles on this resource; "
                    f"change its roles with PUT /v1/policies/{existing.id} (the CLI's "
                    "service-policy-update, user-policy-update, access-group-policy-update)",
                    target="policy")


def create_policy(session: Session, *, journal: ChangeJournal, account_id: str,
                  spec: PolicySpec, created_by: str) -> Policy:
    """Write a checked spec; a second policy for the same subject and resource is a Conflict."""
    existing = _same_target(session, spec, account_id=account_id)
    if existing is not None:
        raise _duplicate(existing)
    now = utcnow()
    row = Policy(id=new_id("Policy"), account_id=account_id,
                 subject_iam_id=spec.subject_iam_id, subject_group_id=spec.subject_group_id,
                 roles=",".join(spec.roles), service=spec.service, region=spec.region,
                 resource_type=spec.resource_type, resource=spec.resource,
                 repository=spec.repository, created_by=created_by, created_at=now,
                 modified_at=now, entity_tag=new_tag())
    return insert(session, row, kind=KIND, journal=journal)


def get_policy(session: Session, *, account_id: str, policy_id: str) -> Policy:
    return get_in_account(session, Policy, policy_id, account_id=account_id, kind=KIND)


def list_policies(session: Session, *, account_id: str, iam_id: str | None = None,
                  group_id: str | None = None, service: str | None = None, limit: int,
                  start: str | None,
                  visible: Callable[[Policy], bool] | None = None) -> Paged[Policy]:
    """One page of the account's policies matching the filters; with `visible`, of those it
    accepts only: the rule is applied before counting and paging, so neither the count nor
    the cursor says anything of the others."""
    query = select(Policy).where(Policy.account_id == account_id)
    if iam_id is not None:
        query = query.where(Policy.subject_iam_id == iam_id)
    if group_id is not None:
        query = query.where(Policy.subject_group_id == group_id)
    if service is not None:
        query = query.where(Policy.service == service)
    if visible is None:
        return page(session, query, key=col(Policy.id), limit=limit, start=start)
    # The rule (PolicyAccess.may_read) is Python, not SQL; the query is one subject's.
    rows = [r for r in session.exec(query.order_by(col(Policy.id))).all() if visible(r)]
    return page_of(rows, key=lambda r: r.id, limit=limit, start=start)


def update_policy(session: Session, *, journal: ChangeJournal, account_id: str,
                  policy_id: str, if_match: str | None, spec: PolicySpec) -> Policy:
    """Replace roles and resource (a checked spec); the subject never changes."""
    row = get_policy(session, account_id=account_id, policy_id=policy_id)
    if (spec.subject_iam_id, spec.subject_group_id) != (row.subject_iam_id,
                                                        row.subject_group_id):
        raise InvalidInput("the subject of a policy cannot change; create another policy",
                           target="subject")
    existing = _same_target(session, spec, account_id=account_id, exclude=row.id)
    if existing is not None:
        raise _duplicate(existing)
    guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                   respect_lock=False, values={
        "roles": ",".join(spec.roles), "service": spec.service, "region": spec.region,
        "resource_type": spec.resource_type, "resource": spec.resource,
        "repository": spec.repository})
    return row


def delete_policy(session: Session, *, journal: ChangeJournal, account_id: str,
                  policy_id: str) -> None:
    row = get_policy(session, account_id=account_id, policy_id=policy_id)
    delete_row(session, row, kind=KIND, journal=journal)
