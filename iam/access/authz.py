"""The policy engine: which actions does an identity hold on a resource, and why.

`evaluate` is pure: (grants of one identity and of its groups, the role catalog, a target)
-> the allowed actions and the grants that gave them. Allow-only union; anything not granted
is denied. `held_actions` and `explain` add the database reads, all indexed by the one
identity (its policies by `subject_iam_id`, its groups by `group_members.iam_id`, their
policies by `subject_group_id`) and always inside the identity's own account, so the cost
depends on that identity's policies only, never on how many exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any, Protocol, TypeVar

from sqlalchemy import text
from sqlmodel import Session, select

from iam.access import roles
from iam.errors import InvalidInput, NotFound
from iam.identity.authn import Principal
from iam.store.models import (
    Account,
    GroupMember,
    Namespace,
    Policy,
    ServiceId,
    TrustedProfile,
    User,
)

NAMESPACE = "namespace"
#: A namespace's state while its images are removed (iam.access.namespace_removals)
DELETING = "deleting"
#: What a namespace being deleted withholds from everyone: nothing more may be pushed into
#: it (pulls and deletes go on; the removal itself deletes)
WITHHELD_WHILE_DELETING = frozenset({"container-registry.image.push"})


@dataclass(frozen=True)
class Target:
    """What is being accessed. Empty strings mean "not about a region/namespace/repository"."""

    service: str
    region: str = ""
    resource_type: str = ""
    resource: str = ""
    repository: str = ""


@dataclass(frozen=True)
class Grant:
    """A policy as the engine sees it. Empty region/resource/repository mean "any"."""

    policy_id: str
    roles: tuple[str, ...]
    service: str
    region: str = ""
    resource_type: str = ""
    resource: str = ""
    repository: str = ""
    group_id: str | None = None

    @classmethod
    def of(cls, policy: Policy) -> Grant:
        return cls(policy_id=policy.id, roles=tuple(split_roles(policy.roles)),
                   service=policy.service, region=policy.region,
                   resource_type=policy.resource_type, resource=policy.resource,
                   repository=policy.repository, group_id=policy.subject_group_id)


@dataclass(frozen=True)
class Evaluation:
    actions: frozenset[str]
    granted_by: tuple[tuple[Grant, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Explanation:
    allowed: bool
    granted_by: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    reason: str = ""


def split_roles(value: str) -> list[str]:
    return [r for r in value.split(",") if r]


def applies(grant: Grant, target: Target) -> bool:
    """Does the grant's resource cover the target?"""
    if grant.service != target.service:
        return False
    if grant.region and grant.region != target.region:
        return False
    if grant.resource and (grant.resource_type != target.resource_type
                           or grant.resource != target.resource):
        return False
    return not grant.repository or bool(
        target.repository and fnmatchcase(target.repository, grant.repository))


def evaluate(grants: Iterable[Grant], catalog: roles.RoleCatalog, target: Target, *,
             owner: bool = False) -> Evaluation:
    """The actions held on `target`: every action to the owner, else the union of the roles
    of the grants that cover it. Unknown services and roles hold nothing."""
    svc = catalog.services.get(target.service)
    if svc is None:
        return Evaluation(frozenset())
    if owner:
        return Evaluation(frozenset(svc.actions))
    held: set[str] = set()
    granted_by = []
    for grant in grants:
        if applies(grant, target):
            actions = svc.actions_of(grant.roles)
            if actions:
                held |= actions
                granted_by.append((grant, actions))
    return Evaluation(frozenset(held), tuple(granted_by))


# --- database reads, all keyed by one identity --------------------------------------------


# The account is checked on the rows fetched, not in the WHERE clause: given the choice, a
# planner may walk the whole account's index instead of the identity's (seen on SQLite).

def group_ids_of(session: Session, *, account_id: str, iam_id: str) -> list[str]:
    rows = session.exec(select(GroupMember.group_id, GroupMember.account_id).where(
        GroupMember.iam_id == iam_id)).all()
    return [group for group, account in rows if account == account_id]


_COLUMNS = ("id, roles, service, region, resource_type, resource, repository, "
            "subject_group_id, account_id")


def _grants_sql(*, sqlite: bool, with_service: bool) -> str:
    """The identity's policies and its groups' policies in one round trip, each half through
    its subject index. SQLite's statistics count the NULL subject_group_id of every identity
    policy as one value and would then scan the table, so the index is named there."""
    own = " INDEXED BY ix_policies_subject_iam_id" if sqlite else ""
    grp = " INDEXED BY ix_policies_subject_group_id" if sqlite else ""
    service = " AND service = :service" if with_service else ""
    return (f"SELECT {_COLUMNS} FROM policies{own} WHERE subject_iam_id = :iam_id{service} "  # noqa: S608 (constants only)
            f"UNION ALL SELECT {_COLUMNS} FROM policies{grp} WHERE subject_group_id IN "
            f"(SELECT group_id FROM group_members WHERE iam_id = :iam_id){service}")


_GRANTS_SQL = {(sqlite, svc): text(_grants_sql(sqlite=sqlite, with_service=svc))
               for sqlite in (True, False) for svc in (True, False)}


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def grants_of(session: Session, *, account_id: str, iam_id: str,
              service: str | None = None) -> list[Grant]:
    """The identity's own policies and its groups' policies, in its account only."""
    params: dict[str, Any] = {"iam_id": iam_id}
    if service is not None:
        params["service"] = service
    stmt = _GRANTS_SQL[(_is_sqlite(session), service is not None)]
    return [
        Grant(policy_id=pid, roles=tuple(split_roles(roles_)), service=svc, region=region,
              resource_type=rtype, resource=res, repository=repo, group_id=group)
        for pid, roles_, svc, region, rtype, res, repo, group, account
        in session.execute(stmt, params).all() if account == account_id]


def namespace_state(session: Session, *, account_id: str, region: str,
                    name: str) -> str | None:
    """The state of the account's namespace of this name in this region (`active`,
    `deleting`), None when the account holds none (one unique-index lookup)."""
    state: str | None = session.exec(select(Namespace.state).where(
        Namespace.region == region, Namespace.name == name,
        Namespace.account_id == account_id)).first()
    return state


def namespace_held(session: Session, *, account_id: str, region: str, name: str) -> bool:
    """Does the account hold this namespace in this region? (one unique-index lookup)"""
    return namespace_state(session, account_id=account_id, region=region,
                           name=name) is not None


def withhold_while_deleting(evaluation: Evaluation) -> Evaluation:
    """What is left on a namespace being deleted: everything but pushing into it."""
    return Evaluation(evaluation.actions - WITHHELD_WHILE_DELETING,
                      tuple((g, a - WITHHELD_WHILE_DELETING)
                            for g, a in evaluation.granted_by))


def _evaluate_for(session: Session, catalog: roles.RoleCatalog, *, account_id: str,
                  iam_id: str, is_owner: bool, target: Target,
                  check_namespace: bool = True) -> Evaluation:
    if target.service not in catalog.services:
        return Evaluation(frozenset())
    state = None
    if check_namespace and target.resource_type == NAMESPACE:
        # The read the token path always made, now with the state: withholding push from a
        # namespace being deleted costs no extra query.
        state = namespace_state(session, account_id=account_id, region=target.region,
                                name=target.resource)
        if state is None:
            return Evaluation(frozenset())
    if is_owner:
        evaluation = evaluate((), catalog, target, owner=True)
    else:
        grants = grants_of(session, account_id=account_id, iam_id=iam_id,
                           service=target.service)
        evaluation = evaluate(grants, catalog, target)
    return withhold_while_deleting(evaluation) if state == DELETING else evaluation


def held_actions(session: Session, catalog: roles.RoleCatalog, principal: Principal, *,
                 service: str, region: str = "", resource_type: str = "", resource: str = "",
                 repository: str = "") -> frozenset[str]:
    """The concrete actions `principal` holds on that resource (empty = denied), by the
    roles of `catalog`.

    With resource_type "namespace", the namespace must exist in the principal's account in
    that region, else nothing is held. The account owner holds every action of every service
    on what its account holds.
    """
    target = Target(service=service, region=region, resource_type=resource_type,
                    resource=resource, repository=repository)
    return _evaluate_for(session, catalog, account_id=principal.account_id,
                         iam_id=principal.iam_id, is_owner=principal.is_owner,
                         target=target).actions


def evaluation_for(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                   target: Target, *, check_namespace: bool = True) -> Evaluation:
    """Like held_actions, with the grants that gave each action (used by the guard)."""
    return _evaluate_for(session, catalog, account_id=principal.account_id, iam_id=principal.iam_id,
                         is_owner=principal.is_owner, target=target,
                         check_namespace=check_namespace)


# --- explain ------------------------------------------------------------------------------


def _identity_in_account(session: Session, *, account_id: str, iam_id: str) -> None:
    model: type[ServiceId] | type[User] | type[TrustedProfile] = (
        ServiceId if iam_id.startswith("iam-ServiceId-")
        else TrustedProfile if iam_id.startswith("iam-Profile-") else User)
    found = session.exec(select(model.iam_id).where(
        model.iam_id == iam_id, model.account_id == account_id)).first()
    if found is None:
        raise NotFound(f"identity {iam_id} not found", target="iam_id")


def _scope(grant: Grant) -> str:
    parts = [f"region {grant.region}" if grant.region else "every region",
             f"{grant.resource_type} {grant.resource}" if grant.resource
             else "every namespace" if grant.service == "container-registry" else "",
             f"repositories {grant.repository}" if grant.repository else ""]
    return ", ".join(p for p in parts if p)


def _denial(action: str, target: Target, grants: Sequence[Grant],
            covering: Sequence[Grant], svc: roles.ServiceRoles) -> str:
    if not grants:
        return (f"no policy of this identity or of its access groups is for service "
                f"{target.service}")
    if not covering:
        listed = "; ".join(f"{g.policy_id} ({_scope(g)})" for g in grants[:5])
        return (f"{len(grants)} {target.service} policies exist for this identity or its "
                f"groups, but none covers this resource: {listed}")
    listed = "; ".join(f"{g.policy_id} (roles {', '.join(g.roles)})" for g in covering[:5])
    return (f"policies cover this resource but none of their roles includes {action}: "
            f"{listed}; roles that include it: {', '.join(svc.roles_with(action)) or 'none'}")


def explain(session: Session, catalog: roles.RoleCatalog, *, account_id: str, iam_id: str,
            action: str, target: Target) -> Explanation:
    """Is `action` allowed to `iam_id` on `target`, which policies grant it, and why (not)."""
    svc = catalog.service(target.service)
    if action not in svc.actions:
        raise InvalidInput(f"action {action!r} is not an action of service {svc.service}",
                           target="action")
    _identity_in_account(session, account_id=account_id, iam_id=iam_id)
    account = session.get(Account, account_id)
    is_owner = account is not None and account.owner_iam_id == iam_id
    state = namespace_state(session, account_id=account_id, region=target.region,
                            name=target.resource) if target.resource_type == NAMESPACE else None
    if target.resource_type == NAMESPACE and state is None:
        where = f" in region {target.region}" if target.region else ""
        return Explanation(False, reason=f"namespace {target.resource} does not exist in this "
                                         f"account{where}; nothing is held on it")
    if state == DELETING and action in WITHHELD_WHILE_DELETING:
        return Explanation(False, reason=f"namespace {target.resource} is being deleted: "
                                         f"{action} is withheld from everyone until it is gone")
    if is_owner:
        return Explanation(True, reason="the account owner holds every action in its account")
    grants = grants_of(session, account_id=account_id, iam_id=iam_id, service=target.service)
    result = evaluate(grants, catalog, target)
    if action in result.actions:
        by = [(g.policy_id, g.roles) for g, acts in result.granted_by if action in acts]
        via = "; ".join(f"{pid} (roles {', '.join(r)})" for pid, r in by)
        return Explanation(True, granted_by=by, reason=f"{action} granted by {via}")
    covering = [g for g in grants if applies(g, target)]
    return Explanation(False, reason=_denial(action, target, grants, covering, svc))


# --- who may grant what -------------------------------------------------------------------

_GLOB_CHARS = frozenset("*?[")


def covers(outer: Grant, inner: Grant) -> bool:
    """Is every resource `inner` reaches also reached by `outer`? (same service)"""
    if outer.service != inner.service:
        return False
    if outer.region and outer.region != inner.region:
        return False
    if outer.resource and (outer.resource_type, outer.resource) != (inner.resource_type,
                                                                    inner.resource):
        return False
    if not outer.repository or outer.repository == inner.repository:
        return True
    return bool(inner.repository) and not (_GLOB_CHARS & set(inner.repository)) and \
        fnmatchcase(inner.repository, outer.repository)


def manage_action(service: str) -> str:
    """The action that lets a service's Administrator manage that service's policies."""
    return f"{service}.policy.manage"


ACCOUNT_POLICY_ADMIN = "iam-access-management.policy.manage"


def can_administer(grants: Iterable[Grant], catalog: roles.RoleCatalog, scope: Grant, *,
                   owner: bool = False) -> bool:
    """May the holder of `grants` create, change or delete a policy reaching `scope`?

    Yes for the owner, for a holder of iam-access-management.policy.manage (account-wide),
    and for a holder of `<service>.policy.manage` through a grant that covers the scope.
    """
    if owner:
        return True
    admin = catalog.services.get("iam-access-management")
    svc = catalog.services.get(scope.service)
    action = manage_action(scope.service)
    for grant in grants:
        if (admin is not None and grant.service == admin.service and not grant.resource
                and ACCOUNT_POLICY_ADMIN in admin.actions_of(grant.roles)):
            return True
        if svc is not None and covers(grant, scope) and action in svc.actions_of(grant.roles):
            return True
    return False


class Placed(Protocol):
    """A namespace as far as visibility goes: where it is (a table row, or a lighter one)."""

    @property
    def region(self) -> str: ...

    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=Placed)


def visible_namespaces(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                       rows: Sequence[P]) -> list[P]:
    """The namespaces (of the principal's account) it holds any action on, in any repository."""
    if principal.is_owner:
        return list(rows)
    svc = catalog.services.get("container-registry")
    if svc is None:
        return []
    grants = [g for g in grants_of(session, account_id=principal.account_id,
                                   iam_id=principal.iam_id, service=svc.service)
              if svc.actions_of(g.roles)]
    return [ns for ns in rows if any(
        applies(replace(g, repository=""),
                Target(service=svc.service, region=ns.region, resource_type=NAMESPACE,
                       resource=ns.name)) for g in grants)]
