"""Everything a running service holds: settings, database engine, keyring, HMAC secret."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from iam.access import roles as role_data
from iam.audit.activity import ActivityRecorder
from iam.audit.trail import AuditTrail
from iam.config import Settings
from iam.identity import server_secret
from iam.identity.accounts import system_account
from iam.identity.ratelimit import FailureLimiter
from iam.store import db
from iam.store.generation_cache import AuthCache
from iam.tokens.signing import Keyring

SYSTEM_ACCOUNT_RETRY_S = 10.0


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
        activity = ActivityRecorder(engine, settings.activity_flush_seconds)
        audit = AuditTrail(engine, retention_days=settings.audit_retention_days)
        limiter = FailureLimiter.from_url(settings.redis_url,
                                          max_failures=settings.auth_max_failures,
                                          window=settings.auth_failure_window)
        authcache = AuthCache(engine, max_entries=settings.authz_cache_entries,
                              poll_seconds=settings.authz_poll_seconds)
        return cls(settings=settings, engine=engine, keyring=keyring, secret=secret,
                   activity=activity, audit=audit, limiter=limiter, authcache=authcache,
                   roles=catalog)

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
        self.activity.start()
        self.audit.start()
        self.authcache.start()

    def close(self) -> None:
        self.authcache.stop()
        self.activity.stop()
        self.audit.stop()
        self.engine.dispose()
