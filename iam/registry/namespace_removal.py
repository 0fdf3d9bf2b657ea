"""Namespace removal: a namespace's images out of every registry of its region, then its
name released (IBM's `namespace-rm`).

1. `remove` (the API's `DELETE /v1/namespaces/{name}`): `namespace.delete` is checked; in
   one transaction the namespace becomes `deleting` (authorization withholds push from it
   at once: no new push token, no image-tag into it) and its removal is recorded, leased
   to this process; the first attempt runs at once, and the caller gets its result if it
   ends within `API_BUDGET_S`, else the state as it stands (the attempt goes on).
2. An attempt sweeps each registry of the region (`NamespaceSweeper`: every repository of
   the namespace, every manifest), each registry's deletions recorded in the audit trail
   with their digests. A registry that cannot be reached keeps the removal `deleting`, and
   the background job (`resume_due`, every few seconds in each process) tries it again,
   with a growing delay, under a lease: of several replicas, one runs it at a time.
3. The name is released only when every registry was found empty by a sweep that started
   after `release_after`: until then a registry token minted before the deletion (its
   `exp` up to `IAM_TOKEN_TTL` later, accepted up to `IAM_REGISTRY_TOKEN_LEEWAY` past it)
   could still push. A registry whose content this service cannot remove for good (its URL
   is unknown, or it refuses deletes while holding images) cannot be confirmed empty:
   the namespace is then deleted and its name kept reserved to its account (the account
   may add it again; the operator's release is another removal).

The tokens the sweeper uses name the caller who started the removal as their `sub`, with
what `namespace.delete` on the namespace covers: pulling and deleting its images.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from iam.access import guard, namespace_removals, namespaces
from iam.access.authz import DELETING
from iam.access.namespace_removals import RELEASED, Key
from iam.access.roles import RoleCatalog
from iam.audit.trail import AuditTrail, Event
from iam.config import Registry
from iam.errors import Conflict, Forbidden, IamError
from iam.identity.authn import Principal
from iam.registry.namespace_sweep import NamespaceSweeper, RegistrySweep
from iam.store.journal import ChangeJournal
from iam.store.models import NamespaceRemoval, utcnow

log = logging.getLogger("iam.namespace_removal")

DELETE_ACTION = "container-registry.namespace.delete"
RELEASE_ACTION = "container-registry.namespace-reservation.release"  # the operator's only
#: how long the caller waits for the first attempt before it is answered `deleting`
API_BUDGET_S = 5.0
#: a lease outlives an attempt's registry calls (renewed before each registry)
LEASE_S = 120.0
#: the delay before the n-th retry: RETRY_FIRST_S * 2^(n-1), at most RETRY_MAX_S
RETRY_FIRST_S = 2.0
RETRY_MAX_S = 30.0
#: how late another replica may still grant push after the deletion committed: the stated
#: bound on revocation across replicas (README, "Revocation across replicas")
REVOCATION_BOUND_S = 1.0
#: states as the API shows them
DELETED = "deleted"
RESERVED = "reserved"


@dataclass(frozen=True)
class RemovalStatus:
    """Where a removal stands: `deleting`, `deleted` (the name released) or `reserved`
    (deleted, the name kept for its account), and what the last attempt did."""

    region: str
    name: str
    account_id: str
    state: str
    started_at: datetime
    release_after: datetime
    sweeps: tuple[RegistrySweep, ...] = ()
    attempts: int = 0
    last_error: str = ""
    #: True while an attempt is still running (the caller's budget ran out)
    running: bool = False

    @property
    def done(self) -> bool:
        return self.state != DELETING

    @classmethod
    def of(cls, removal: NamespaceRemoval, *, state: str = DELETING,
           sweeps: Sequence[RegistrySweep] = (), running: bool = False) -> RemovalStatus:
        return cls(region=removal.region, name=removal.name, account_id=removal.account_id,
                   state=state, started_at=removal.started_at,
                   release_after=removal.release_after, sweeps=tuple(sweeps),
                   attempts=removal.attempts, last_error=removal.last_error,
                   running=running)


OpenSession = Callable[[], AbstractContextManager[Session]]
RegistriesOf = Callable[[str], list[Registry]]


def retry_delay(attempts: int) -> float:
    return float(min(RETRY_FIRST_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))


def _sweep_summary(sweep: RegistrySweep) -> dict[str, Any]:
    return {"registry": sweep.registry, "error": sweep.error, "permanent": sweep.permanent,
            "remaining": list(sweep.remaining),
            "deleted": [{"repository": d.repository, "digest": d.digest, "tags": list(d.tags)}
                        for d in sweep.deleted]}


@dataclass(frozen=True)
class NamespaceRemover:
    """Runs namespace removals, with the parts it uses (built once by the runtime)."""

    read: OpenSession
    write: OpenSession
    registries_of: RegistriesOf
    sweep: NamespaceSweeper
    audit: AuditTrail
    roles: RoleCatalog
    token_ttl: int
    token_leeway: int
    #: this process, as the holder of the leases it takes
    holder: str
    #: where the attempts a request starts run (the request waits up to its budget)
    executor: Executor

    def release_after(self, start: datetime) -> datetime:
        """When no registry token granted before `start` can push any more."""
        return start + timedelta(seconds=REVOCATION_BOUND_S + self.token_ttl
                                 + self.token_leeway)

    # -- starting ----------------------------------------------------------------------------

    def remove(self, principal: Principal, *, journal: ChangeJournal, region: str, name: str,
               budget: float = API_BUDGET_S) -> RemovalStatus:
        """Delete the account's namespace: start (or join) its removal and wait up to
        `budget` seconds for the attempt that runs now."""
        with self.write() as session:
            namespace = namespaces.get_namespace(session, account_id=principal.account_id,
                                                 region=region, name=name)
            guard.require(session, self.roles, principal, DELETE_ACTION,
                          {"region": region, "namespace": name})
            now = utcnow()
            removal, started = namespace_removals.start(
                session, journal=journal, namespace=namespace, started_by=principal.iam_id,
                now=now, release_after=self.release_after(now), holder=self.holder,
                lease_seconds=LEASE_S)
            key = namespace_removals.key_of(removal)
        return self._run_now(key, started=started, budget=budget)

    def release(self, principal: Principal, *, journal: ChangeJournal, region: str,
                name: str, budget: float = API_BUDGET_S) -> RemovalStatus:
        """The system operator releases a reserved name: whatever its deleted namespace
        left in the region's registries is removed first, and the name goes only when they
        are all found empty."""
        if not principal.is_operator:
            raise Forbidden(RELEASE_ACTION, "only the system operator may release a namespace "
                                            "reservation")
        with self.write() as session:
            reservation = namespaces.get_reservation(session, region=region, name=name)
            now = utcnow()
            deleted_at = namespaces.reserved_at(reservation)
            removal, started = namespace_removals.start_release(
                session, journal=journal, reservation=reservation,
                started_by=principal.iam_id, now=now,
                release_after=self.release_after(deleted_at), holder=self.holder,
                lease_seconds=LEASE_S)
            key = namespace_removals.key_of(removal)
        status = self._run_now(key, started=started, budget=budget)
        if status.state == RESERVED:
            why = "; ".join(s.error for s in status.sweeps if s.permanent) or "see the audit"
            raise Conflict(f"the name {name} stays reserved: its images cannot be confirmed "
                           f"gone ({why})", target="registry")
        return status

    def _run_now(self, key: Key, *, started: bool, budget: float) -> RemovalStatus:
        """The attempt a request starts, awaited up to `budget`. A removal that was already
        under way is claimed here like the background job would (or left to its holder)."""
        if not started:
            with self.write() as session:
                claimed = namespace_removals.claim(session, key, holder=self.holder,
                                                   now=utcnow(), lease_seconds=LEASE_S)
            if claimed is None:
                return self.status(key, running=True)
        future: Future[RemovalStatus] = self.executor.submit(self.attempt, key)
        try:
            return future.result(timeout=budget)
        except FutureTimeout:
            return self.status(key, running=True)

    def status(self, key: Key, *, running: bool = False) -> RemovalStatus:
        with self.read() as session:
            removal = namespace_removals.get(session, key)
            reserved = removal is None and namespaces.reserved(session, key)
        if removal is None:  # finished meanwhile: released, or kept reserved
            now = utcnow()
            return RemovalStatus(region=key[0], name=key[1], account_id="",
                                 state=RESERVED if reserved else DELETED, started_at=now,
                                 release_after=now)
        return RemovalStatus.of(removal, running=running)

    # -- the background job ------------------------------------------------------------------

    def resume_due(self) -> int:
        """Run every removal whose next attempt is due and whose lease is free (one tick of
        the background job); the number run by this process."""
        try:
            with self.read() as session:
                keys = namespace_removals.due(session, now=utcnow())
        except SQLAlchemyError as exc:
            log.warning("cannot read the namespace removals (%s); will retry",
                        type(exc).__name__)
            return 0
        ran = 0
        for key in keys:
            try:
                with self.write() as session:
                    claimed = namespace_removals.claim(session, key, holder=self.holder,
                                                       now=utcnow(), lease_seconds=LEASE_S)
                if claimed is not None:
                    self.attempt(key)
                    ran += 1
            except SQLAlchemyError as exc:
                log.warning("namespace removal %s/%s: database error (%s); will retry",
                            *key, type(exc).__name__)
            except Exception:  # the job's thread must live on: the lease expires, retried
                log.exception("namespace removal %s/%s failed; will retry", *key)
        return ran

    # -- one attempt -------------------------------------------------------------------------

    def attempt(self, key: Key) -> RemovalStatus:
        """Sweep every registry of the region once, then record the attempt or end the
        removal. The caller holds the lease."""
        with self.read() as session:
            removal = namespace_removals.get(session, key)
        if removal is None or removal.lease_holder != self.holder:
            return self.status(key)
        began = utcnow()
        sweeps: list[RegistrySweep] = []
        try:
            registries = self.registries_of(removal.region)
        except IamError as exc:  # the list of registries is not loaded yet (503)
            self._record(key, error=exc.message, confirmed_at=None,
                         next_attempt_at=began + timedelta(seconds=RETRY_FIRST_S))
            raise
        for registry in registries:
            with self.write() as session:
                if not namespace_removals.renew(session, key, holder=self.holder,
                                                now=utcnow(), lease_seconds=LEASE_S):
                    log.warning("namespace removal %s/%s: lease lost; another process runs "
                                "it", *key)
                    return self.status(key, running=True)
            sweep = self._sweep_one(registry, removal)
            sweeps.append(sweep)
            self._record_sweep(removal, sweep)
        return self._conclude(removal, sweeps, began)

    def _sweep_one(self, registry: Registry, removal: NamespaceRemoval) -> RegistrySweep:
        try:
            return self.sweep(registry, namespace=removal.name, subject=removal.started_by)
        except Exception as exc:  # a registry's failure must not end the job: retried
            log.exception("namespace removal %s/%s in %s failed", removal.region,
                          removal.name, registry.service)
            return RegistrySweep(registry.service, error=f"registry {registry.service}: "
                                                         f"{type(exc).__name__}")

    def _record_sweep(self, removal: NamespaceRemoval, sweep: RegistrySweep) -> None:
        self.audit.record(Event(
            action="namespace.removal.registry",
            outcome="success" if sweep.empty else "failure",
            account_id=removal.account_id, actor=removal.started_by,
            target=f"{removal.region}/{removal.name}"[:256],
            detail={"region": removal.region, "namespace": removal.name,
                    "worker": self.holder, **_sweep_summary(sweep)}))

    def _conclude(self, removal: NamespaceRemoval, sweeps: list[RegistrySweep],
                  began: datetime) -> RemovalStatus:
        key = namespace_removals.key_of(removal)
        retry = [s for s in sweeps if not s.empty and not s.permanent]
        kept = [s for s in sweeps if not s.empty and s.permanent]
        now = utcnow()
        if retry:
            error = "; ".join(s.error or f"registry {s.registry}: {len(s.remaining)} "
                              "repositories remain" for s in retry)
            self._record(key, error=error, confirmed_at=None,
                         next_attempt_at=now + timedelta(
                             seconds=retry_delay(removal.attempts + 1)))
            return self._after(key, sweeps)
        # Nothing more can be removed now. Released only after a sweep that began once no
        # token of before the deletion could push: the one that found every registry empty.
        if not kept and sweeps and began < removal.release_after:
            self._record(key, error="", confirmed_at=now,
                         next_attempt_at=removal.release_after)
            return self._after(key, sweeps)
        journal = ChangeJournal()
        with self.write() as session:
            outcome = namespace_removals.complete(session, key, journal=journal,
                                                  holder=self.holder, now=now,
                                                  reserve=bool(kept))
        if outcome is None:
            return self.status(key, running=True)
        self.audit.record(Event(
            action="namespace.removal.release", outcome="success",
            account_id=removal.account_id, actor=removal.started_by,
            target=f"{removal.region}/{removal.name}"[:256],
            detail={"region": removal.region, "namespace": removal.name,
                    "outcome": outcome, "worker": self.holder,
                    "reserved_because": [s.error for s in kept], **journal.summary()}))
        state = DELETED if outcome == RELEASED else RESERVED
        return RemovalStatus.of(removal, state=state, sweeps=sweeps)

    def _record(self, key: Key, *, error: str, confirmed_at: datetime | None,
                next_attempt_at: datetime) -> None:
        with self.write() as session:
            namespace_removals.record_attempt(session, key, holder=self.holder, error=error,
                                              confirmed_at=confirmed_at,
                                              next_attempt_at=next_attempt_at)

    def _after(self, key: Key, sweeps: list[RegistrySweep]) -> RemovalStatus:
        status = self.status(key)
        return RemovalStatus(**{**status.__dict__, "sweeps": tuple(sweeps)})
