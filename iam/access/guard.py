"""Authorization of admin calls: does this principal hold this action (on this resource)?

Backed by the policy engine (`iam.access.authz`): the action's service is its first component
(`container-registry.namespace.create` -> `container-registry`). `resource` may carry
`region`, `namespace` (or `resource_type` + `resource`) and `repository`; other keys
(`serviceid`, `user`) are informational, since identity and access-management policies are
account-wide. A Forbidden names the missing action.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, select

from iam.access import authz, roles
from iam.access.delegation import Authority
from iam.errors import Forbidden
from iam.identity.authn import Principal
from iam.store.models import ClaimRule, Policy, ServiceId, TrustedProfile

log = logging.getLogger("iam.guard")


def target_of(action: str, resource: dict[str, str] | None = None) -> authz.Target:
    resource = resource or {}
    namespace = resource.get("namespace", "")
    resource_type = authz.NAMESPACE if namespace else resource.get("resource_type", "")
    return authz.Target(service=action.split(".", 1)[0], region=resource.get("region", ""),
                        resource_type=resource_type,
                        resource=namespace or resource.get("resource", ""),
                        repository=resource.get("repository", ""))


def _known(catalog: roles.RoleCatalog, action: str) -> bool:
    svc = catalog.services.get(action.split(".", 1)[0])
    if svc is None or action not in svc.actions:
        log.warning("guard asked for undeclared action %s: denied", action)
        return False
    return True


def allowed(session: Session, catalog: roles.RoleCatalog, principal: Principal, action: str,
            resource: dict[str, str] | None = None) -> bool:
    if not _known(catalog, action):
        return False
    target = target_of(action, resource)
    return action in authz.evaluation_for(session, catalog, principal, target).actions


def _forbidden(action: str, resource: dict[str, str] | None) -> Forbidden:
    where = ""
    if resource and resource.get("namespace"):
        where = f" on namespace {resource['namespace']}"
        if resource.get("region"):
            where += f" in region {resource['region']}"
    return Forbidden(action, f"missing action {action}{where}")


def require(session: Session, catalog: roles.RoleCatalog, principal: Principal, action: str,
            resource: dict[str, str] | None = None) -> None:
    if not allowed(session, catalog, principal, action, resource):
        raise _forbidden(action, resource)


METRICS_READ = "iam-access-management.metrics.read"


def require_metrics_reader(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                           *, system_account_id: str) -> None:
    """The metrics count every account's requests and tokens: only an identity of the
    system account may read them, holding `metrics.read` there (role MetricsReader)."""
    if not system_account_id or principal.account_id != system_account_id:
        raise Forbidden(METRICS_READ, f"missing action {METRICS_READ} in the system account")
    require(session, catalog, principal, METRICS_READ)


def require_to_create_namespace(session: Session, catalog: roles.RoleCatalog,
                                principal: Principal, *, region: str, name: str) -> None:
    """`namespace.create` on a name that does not exist yet (no existence check)."""
    action = "container-registry.namespace.create"
    resource = {"region": region, "namespace": name}
    ok = _known(catalog, action) and action in authz.evaluation_for(
        session, catalog, principal, target_of(action, resource), check_namespace=False).actions
    if not ok:
        raise _forbidden(action, resource)


def require_key_access(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                       action: str, owner_iam_id: str) -> None:
    """Keys of one's own user are always one's own to manage; others need the action."""
    if principal.kind == "User" and owner_iam_id == principal.iam_id:
        return
    if owner_iam_id.startswith("iam-ServiceId-"):
        require(session, catalog, principal, action, {"serviceid": owner_iam_id})
    else:
        require(session, catalog, principal, "iam-identity.user.update", {"user": owner_iam_id})


def _resource_of(iam_id: str) -> dict[str, str]:
    if iam_id.startswith("iam-Profile-"):
        return {"profile": iam_id}
    return {"serviceid" if iam_id.startswith("iam-ServiceId-") else "user": iam_id}


def _iam_id_of(session: Session, principal: Principal, target: str) -> str:
    """The iam_id of a service ID the routes were given by its `ServiceId-...` id (they
    take either): the rule below must judge the identity, whatever name it came by."""
    if not target.startswith("ServiceId-") or "\x00" in target:
        return target
    found = session.exec(select(ServiceId.iam_id).where(
        ServiceId.id == target, ServiceId.account_id == principal.account_id)).first()
    return found or target


def require_identity_change(session: Session, catalog: roles.RoleCatalog,
                            principal: Principal, action: str, target_iam_id: str, *,
                            registry_operators: Collection[str] = ()) -> None:
    """The action, then the non-escalation rule over everything the target holds."""
    target_iam_id = _iam_id_of(session, principal, target_iam_id)
    require(session, catalog, principal, action, _resource_of(target_iam_id))
    Authority.of(session, catalog, principal).require_identity(
        session, target_iam_id, registry_operators=registry_operators)


def require_key_change(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                       action: str, owner_iam_id: str, *,
                       registry_operators: Collection[str] = ()) -> None:
    """Create, change, lock or delete a key of `owner_iam_id`: its action, then the rule."""
    require_key_access(session, catalog, principal, action, owner_iam_id)
    Authority.of(session, catalog, principal).require_identity(
        session, owner_iam_id, registry_operators=registry_operators)


def require_group_change(session: Session, catalog: roles.RoleCatalog, principal: Principal,
                         action: str, group_id: str) -> None:
    """Change who carries a group's policies (members, deletion): the action, then the rule
    over every policy of the group."""
    require(session, catalog, principal, action)
    Authority.of(session, catalog, principal).require_group(session, group_id)


def require_issuer_change(session: Session, catalog: roles.RoleCatalog,
                          principal: Principal, action: str, *, url: str) -> None:
    """Change an issuer's audiences, algorithms or keys: its action, then the rule over
    every trusted profile whose claim rules name it (they change who may become it)."""
    require(session, catalog, principal, action)
    named = session.exec(select(TrustedProfile.iam_id).join(
        ClaimRule, ClaimRule.profile_id == TrustedProfile.id).where(  # type: ignore[arg-type]
        ClaimRule.issuer_url == url, ClaimRule.account_id == principal.account_id)).all()
    authority = Authority.of(session, catalog, principal)
    for iam_id in dict.fromkeys(named):
        authority.require_identity(session, iam_id)


@dataclass(frozen=True)
class PolicyAccess(Authority):
    """What one caller may do with policies: read, and create/change/delete within scope.

    Creating a policy needs Administrator on its service over the whole scope granted (or
    iam-access-management Administrator, or being the owner): nobody can grant a role on a
    scope where they could not grant it themselves (`iam.access.delegation`).
    """

    group_ids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, session: Session, catalog: roles.RoleCatalog,
           principal: Principal) -> PolicyAccess:
        authority = Authority.of(session, catalog, principal)
        group_ids = frozenset() if principal.is_owner else frozenset(authz.group_ids_of(
            session, account_id=principal.account_id, iam_id=principal.iam_id))
        return cls(authority.principal, authority.grants, authority.catalog, group_ids)

    def account_wide(self, action: str) -> bool:
        """An iam-access-management action held account-wide."""
        target = authz.Target(service=action.split(".", 1)[0])
        return action in authz.evaluate(self.grants, self.catalog, target,
                                        owner=self.principal.is_owner).actions

    def may_manage(self, scope: authz.Grant) -> bool:
        return self.may_grant(scope)

    def require_manage(self, scope: authz.Grant) -> None:
        self.require_grant(scope)

    def is_own(self, row: Policy) -> bool:
        return (row.subject_iam_id == self.principal.iam_id
                or row.subject_group_id in self.group_ids)

    def may_read(self, row: Policy) -> bool:
        return (self.account_wide("iam-access-management.policy.get") or self.is_own(row)
                or self.may_manage(authz.Grant.of(row)))
