"""Everything a running service holds: settings, database engine, keyring, HMAC secret, and
the domain services built from those parts (`attempts`...), each once, on first use."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from iam import __version__
from iam.access import roles as role_data
from iam.audit.activity import ActivityRecorder
from iam.audit.trail import AuditTrail
from iam.config import Settings
from iam.identity import server_secret
from iam.identity.accounts import system_account
from iam.identity.attempts import Attempts
from iam.identity.ratelimit import FailureLimiter
from iam.metrics.instruments import Metrics
from iam.registry.directory import RegistryDirectory
from iam.registry.token_service import TokenService
from iam.store import db
from iam.store.generation_cache import AuthCache
from iam.tokens.oauth_grants import IdentityTokens
from iam.tokens.signing import Keyring

SYSTEM_ACCOUNT_RETRY_S = 10.0
#: The services below, built from the parts on first use and built again when a part is
#: replaced (a test swaps the limiter, say).
SERVICES = ("attempts", "registries", "registry_tokens", "identity_tokens")


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
        return cls(settings=settings, engine=engine, keyring=keyring, secret=secret,
                   activity=activity, audit=audit, limiter=limiter, authcache=authcache,
                   roles=catalog, metrics=metrics)

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
    def registries(self) -> RegistryDirectory:
        return RegistryDirectory(self.settings.registries)

    @cached_property
    def registry_tokens(self) -> TokenService:
        return TokenService(settings=self.settings, keyring=self.keyring, secret=self.secret,
                            cache=self.authcache, read=self.read, attempts=self.attempts,
                            roles=self.roles, registries=self.registries)

    @cached_property
    def identity_tokens(self) -> IdentityTokens:
        return IdentityTokens(settings=self.settings, keyring=self.keyring, secret=self.secret,
                              cache=self.authcache, read=self.read)

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

    def start_background(self) -> None:
        self.system_account_id()
        self._record_build()
        self.activity.start()
        self.audit.start()
        self.authcache.start()

    def _record_build(self) -> None:
        """The build-info gauge: this version and the schema revision the database is at."""
        try:
            schema = db.revision_of(self.engine) or "none"
        except SQLAlchemyError:
            self.metrics.database_error("startup").inc()
            schema = "unknown"
        self.metrics.build.labels(version=__version__, schema=schema).set(1)

    def close(self) -> None:
        self.authcache.stop()
        self.activity.stop()
        self.audit.stop()
        self.engine.dispose()
