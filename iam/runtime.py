"""Everything a running service holds: settings, database engine, keyring, HMAC secret, and
the domain services built from those parts (`attempts`...), each once, on first use."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, partial

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from iam import __version__
from iam.access import roles as role_data
from iam.audit.activity import ActivityRecorder
from iam.audit.trail import AuditTrail, Event
from iam.config import Registry, Settings
from iam.federation.exchange import Federation
from iam.federation.issuer_keys import IssuerKeys
from iam.identity import server_secret
from iam.identity.accounts import system_account
from iam.identity.attempts import Attempts
from iam.identity.ratelimit import FailureLimiter
from iam.metrics.instruments import Metrics
from iam.registry import registries as registry_data
from iam.registry.content.cache import DigestCache
from iam.registry.content.connection import Connections
from iam.registry.content.credentials import Credentials
from iam.registry.content.service import RegistryContent
from iam.registry.directory import RegistryDirectory
from iam.registry.namespace_removal import NamespaceRemover
from iam.registry.namespace_sweep import sweep_by
from iam.registry.token_service import TokenService
from iam.store import db
from iam.store.generation_cache import AuthCache
from iam.store.journal import ChangeJournal
from iam.store.periodic import Periodic
from iam.tokens.oauth_grants import IdentityTokens
from iam.tokens.signing import Keyring

log = logging.getLogger("iam.runtime")
SYSTEM_ACCOUNT_RETRY_S = 10.0
#: The services below, built from the parts on first use and built again when a part is
#: replaced (a test swaps the limiter, say).
SERVICES = ("attempts", "registry_tokens", "identity_tokens", "content",
            "namespace_removals", "federation")


def _load_registries(engine: Engine) -> Sequence[Registry]:
    with db.read_session(engine) as session:
        return registry_data.load(session)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    keyring: Keyring
    secret: bytes = field(repr=False)
    activity: ActivityRecorder
    audit: AuditTrail
    limiter: FailureLimiter
    authcache: AuthCache
    #: the one role catalog of this process, handed to whatever evaluates or validates
    roles: role_data.RoleCatalog
    #: the registries, read from the database and reloaded on every authorization change
    registries: RegistryDirectory
    #: the keys of every workload-token issuer, fetched and cached per process
    issuer_keys: IssuerKeys
    #: the Prometheus instruments of this process (`iam.metrics`)
    metrics: Metrics
    #: the system account's id, read once (every failed authentication is recorded there)
    _system_account: str | None = field(default=None, init=False, repr=False)
    _system_account_tried: float = field(default=float("-inf"), init=False, repr=False)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Load and check everything; refuses with ConfigurationError what is unusable."""
        catalog = role_data.load_dir(settings.policies_dir)
        secret = server_secret.load(settings)
        keyring = Keyring(settings.keys_dir)
        engine = db.make_engine(settings.db_url)
        metrics = Metrics(enabled=settings.metrics_enabled)
        activity = ActivityRecorder(engine, settings.activity_flush_seconds, metrics=metrics)
        audit = AuditTrail(engine, retention_days=settings.audit_retention_days,
                           metrics=metrics)
        limiter = FailureLimiter.from_url(settings.redis_url,
                                          max_failures=settings.auth_max_failures,
                                          window=settings.auth_failure_window)
        authcache = AuthCache(engine, max_entries=settings.authz_cache_entries,
                              poll_seconds=settings.authz_poll_seconds, metrics=metrics)
        registries = RegistryDirectory.loading(partial(_load_registries, engine))
        authcache.on_change(registries.reload)
        issuer_keys = IssuerKeys(refresh_after=settings.issuer_keys_refresh,
                                 max_age=settings.issuer_keys_max_age,
                                 refetch_interval=settings.issuer_refetch_interval,
                                 timeout=settings.issuer_fetch_timeout)
        return cls(settings=settings, engine=engine, keyring=keyring, secret=secret,
                   activity=activity, audit=audit, limiter=limiter, authcache=authcache,
                   roles=catalog, registries=registries, issuer_keys=issuer_keys,
                   metrics=metrics)

    def __setattr__(self, name: str, value: object) -> None:
        super().__setattr__(name, value)
        if not name.startswith("_"):
            for service in SERVICES:
                self.__dict__.pop(service, None)

    # -- the services: each a small object of the parts it uses -------------------------------

    @cached_property
    def attempts(self) -> Attempts:
        return Attempts(limiter=self.limiter, audit=self.audit, activity=self.activity,
                        system_account_id=self.system_account_id,
                        outcomes=self.metrics.tokens)

    @cached_property
    def federation(self) -> Federation:
        return Federation(cache=self.authcache, keys=self.issuer_keys)

    @cached_property
    def registry_tokens(self) -> TokenService:
        return TokenService(settings=self.settings, keyring=self.keyring, secret=self.secret,
                            cache=self.authcache, read=self.read, federation=self.federation,
                            attempts=self.attempts, roles=self.roles,
                            registries=self.registries)

    @cached_property
    def identity_tokens(self) -> IdentityTokens:
        return IdentityTokens(settings=self.settings, keyring=self.keyring, secret=self.secret,
                              cache=self.authcache, read=self.read,
                              federation=self.federation)

    @cached_property
    def content(self) -> RegistryContent:
        return RegistryContent(settings=self.settings, roles=self.roles, read=self.read,
                               registries=self.registries,
                               credentials=Credentials(self.keyring, self.settings.issuer),
                               connections=self.registry_connections,
                               cache=self.digest_cache)

    @cached_property
    def namespace_removals(self) -> NamespaceRemover:
        return NamespaceRemover(read=self.read, write=self.write,
                                registries_of=self.registries.in_region,
                                sweep=sweep_by(self.content), audit=self.audit,
                                roles=self.roles, token_ttl=self.settings.token_ttl,
                                token_leeway=self.settings.registry_token_leeway,
                                holder=self.process_id, executor=self.removal_threads)

    # Kept across rebuilds of the services: pooled connections and cached content, the
    # removals' threads and this process's name as the holder of their leases.
    @cached_property
    def process_id(self) -> str:
        return uuid.uuid4().hex[:16]

    @cached_property
    def removal_threads(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="iam-namespace-rm")

    @cached_property
    def removal_job(self) -> Periodic:
        """Resumes the namespace removals that are due (every process; leases keep them
        from running twice)."""
        return Periodic("iam-namespace-rm-job", self.settings.namespace_removal_interval,
                        lambda: self.namespace_removals.resume_due())

    @cached_property
    def registry_connections(self) -> Connections:
        return Connections(timeout=self.settings.registry_timeout,
                           concurrency=self.settings.registry_concurrency)

    @cached_property
    def digest_cache(self) -> DigestCache:
        return DigestCache(self.settings.registry_cache_bytes)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with db.read_session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with db.write_session(self.engine) as session:
            yield session
        # Committed: this process sees its own revocations at once, others within a poll.
        self.authcache.changed()

    def system_account_id(self) -> str:
        """The system account's id ("" while it cannot be read: then at most one try per
        SYSTEM_ACCOUNT_RETRY_S, since a failed attempt may be answered on the event loop)."""
        if self._system_account is not None:
            return self._system_account
        now = time.monotonic()
        if now - self._system_account_tried < SYSTEM_ACCOUNT_RETRY_S:
            return ""
        self._system_account_tried = now
        try:
            with self.read() as session:
                account = system_account(session)
        except SQLAlchemyError:
            return ""
        if account is not None:
            self._system_account = account.id
        return self._system_account or ""

    def seed_registries(self) -> None:
        """Add the settings' registries the database lacks (`iam.registry.registries`); one
        audit event in the system account names what was added. A database that cannot be
        reached is logged: the directory then answers 503 until it can be read."""
        journal = ChangeJournal()
        try:
            with self.write() as session:
                seeded = registry_data.seed(
                    session, journal=journal, registries=self.settings.registries,
                    explicit="registries" in self.settings.model_fields_set)
        except SQLAlchemyError as exc:
            log.warning("registries not seeded from the settings: database unavailable (%s)",
                        type(exc).__name__)
            return
        if seeded.added:
            self.audit.record(Event(action="registry.seed", outcome="success",
                                    account_id=self.system_account_id(),
                                    target=",".join(seeded.added)[:256],
                                    detail=journal.summary()))

    def start_background(self) -> None:
        self.seed_registries()
        self.system_account_id()
        self._record_build()
        self.activity.start()
        self.audit.start()
        self.authcache.start()
        self.removal_job.start()

    def _record_build(self) -> None:
        """The build-info gauge: this version and the schema revision the database is at."""
        try:
            schema = db.revision_of(self.engine) or "none"
        except SQLAlchemyError:
            self.metrics.database_error("startup").inc()
            schema = "unknown"
        self.metrics.build.labels(version=__version__, schema=schema).set(1)

    def close(self) -> None:
        # Dropped once stopped, so that a runtime served again (a test's second app) builds
        # them anew rather than submitting to a pool that was shut down.
        if "removal_job" in self.__dict__:
            self.__dict__.pop("removal_job").stop(timeout=10)
        if "removal_threads" in self.__dict__:
            self.__dict__.pop("namespace_removals", None)
            self.__dict__.pop("removal_threads").shutdown(wait=True, cancel_futures=True)
        if "registry_connections" in self.__dict__:
            self.registry_connections.close()
        self.authcache.stop()
        self.activity.stop()
        self.audit.stop()
        self.engine.dispose()
