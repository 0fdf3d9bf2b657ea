"""What one principal holds in container-registry, read once and evaluated per repository.

An operation on many repositories (an image listing of a thousand) asks the policy engine
about each of them. Reading the same identity's grants and the account's namespaces once per
repository would cost two queries each; `Holdings.read` reads them once (one query for the
namespaces, one for the grants) and `held` evaluates each repository with the engine's own
pure function (`authz.evaluate`), exactly as `authz.held_actions` does: nothing is held on a
namespace the account does not hold in that region, the owner holds every action on what
its account holds, and anything not granted is denied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlmodel import Session

from iam.access import authz, roles
from iam.access.namespaces import list_namespaces
from iam.identity.authn import Principal

SERVICE = "container-registry"
_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Holdings:
    principal: Principal
    catalog: roles.RoleCatalog
    #: (region, name) of every namespace of the principal's account (in the regions read)
    namespaces: frozenset[tuple[str, str]]
    grants: tuple[authz.Grant, ...]
    #: (region, name) of the namespaces being deleted: push is withheld there
    deleting: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def read(cls, session: Session, catalog: roles.RoleCatalog, principal: Principal, *,
             region: str | None = None, namespace: str | None = None) -> Holdings:
        """The account's namespaces (of `region`, or of every region; only `namespace`'s,
        for an operation on that one) and the identity's container-registry grants, its
        groups' included."""
        rows = list_namespaces(session, account_id=principal.account_id, region=region,
                               name=namespace)
        grants = () if principal.is_owner else tuple(authz.grants_of(
            session, account_id=principal.account_id, iam_id=principal.iam_id,
            service=SERVICE))
        return cls(principal, catalog, frozenset((r.region, r.name) for r in rows), grants,
                   frozenset((r.region, r.name) for r in rows if r.state == authz.DELETING))

    def namespaces_in(self, region: str) -> list[str]:
        return sorted(name for r, name in self.namespaces if r == region)

    def held(self, region: str, namespace: str, repository: str = "") -> frozenset[str]:
        """The actions held on `namespace` (or on one repository inside it) in `region`."""
        if (region, namespace) not in self.namespaces:
            return _NOTHING
        target = authz.Target(service=SERVICE, region=region, resource_type=authz.NAMESPACE,
                              resource=namespace, repository=repository)
        actions = authz.evaluate(self.grants, self.catalog, target,
                                 owner=self.principal.is_owner).actions
        if (region, namespace) in self.deleting:
            return actions - authz.WITHHELD_WHILE_DELETING
        return actions

    def somewhere_in(self, region: str, namespace: str, action: str) -> bool:
        """Is `action` held on the namespace, or on some repository of it (a glob policy)?"""
        if action in self.held(region, namespace):
            return True
        if (region, namespace) not in self.namespaces or (
                (region, namespace) in self.deleting
                and action in authz.WITHHELD_WHILE_DELETING):
            return False
        target = authz.Target(service=SERVICE, region=region, resource_type=authz.NAMESPACE,
                              resource=namespace)
        return any(action in authz.evaluate((replace(g, repository=""),), self.catalog,
                                            target).actions
                   for g in self.grants if g.repository)
