"""Tables. The schema itself is owned by Alembic (`alembic/versions`); these mirror it.

Secrets never live here in clear: API keys as an HMAC digest, passwords as argon2 hashes.
`PUBLIC` names the fields of an entity anyone may read back (the audit trail's before and
after, `iam.store.journal`): never a digest, a hash or a search key.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from iam.names import name_key


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite hands back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_tag() -> str:
    """A fresh entity tag; it changes on every update so `If-Match` can detect races."""
    return secrets.token_hex(8)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw))


#: Room for a key (iam.validation.MAX_NAME_KEY_BYTES) plus the row id migration 0003
#: appends to the keys of names that were duplicates before it.
NAME_KEY_LENGTH = 1100


def _key_of_name(context: DefaultExecutionContext) -> str:
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return name_key(str(parameters["name"]))


def _name_key() -> Any:
    """`name_key` (see iam.validation): set by the domain modules; an insert that omits it
    (the benchmarks' bulk seeding) gets it computed from `name`."""
    return Field(sa_column=Column(String(NAME_KEY_LENGTH), nullable=False,
                                  default=_key_of_name))


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    PUBLIC: ClassVar[tuple[str, ...]] = ("id", "name", "owner_iam_id", "is_system", "created_at")

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=256)
    owner_iam_id: str = Field(max_length=80)
    is_system: bool = False
    created_at: datetime = _ts(nullable=False)


class ServiceId(SQLModel, table=True):
    __tablename__ = "service_ids"
    __table_args__ = (Index("uq_service_ids_name_key", "account_id", "name_key", unique=True),)
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "iam_id", "account_id", "name", "description", "locked", "created_at",
        "modified_at", "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    iam_id: str = Field(max_length=80, unique=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    name: str = Field(max_length=256)
    name_key: str = _name_key()
    description: str = Field(default="", max_length=1024)
    locked: bool = False
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_users_account_name"),
                      # name_key first: it also serves the login look-up by name alone
                      Index("uq_users_name_key", "name_key", "account_id", unique=True))
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "iam_id", "account_id", "name", "locked", "created_at", "modified_at",
        "password_changed_at", "entity_tag")

    iam_id: str = Field(primary_key=True, max_length=80)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    name: str = Field(max_length=256, index=True)
    name_key: str = _name_key()
    password_hash: str = Field(max_length=256)
    locked: bool = False
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    password_changed_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "iam_id", "account_id", "name", "description", "locked", "disabled", "created_at",
        "modified_at", "expires_at", "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    iam_id: str = Field(max_length=80, index=True)
    name: str = Field(max_length=256)
    description: str = Field(default="", max_length=1024)
    key_hash: str = Field(max_length=64, unique=True)
    locked: bool = False
    disabled: bool = False
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=True)
    last_authn: datetime | None = _ts(nullable=True)
    authn_count: int = 0
    entity_tag: str = Field(max_length=32)


class Namespace(SQLModel, table=True):
    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("region", "name", name="uq_namespaces_region_name"),
                      Index("uq_namespaces_name_key", "region", "name_key", unique=True))
    PUBLIC: ClassVar[tuple[str, ...]] = ("id", "account_id", "region", "name", "state",
                                         "created_at")

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    region: str = Field(default="", max_length=64)
    name: str = Field(max_length=30)
    name_key: str = _name_key()
    #: `active`, or `deleting` while its images are removed (push is withheld; migration 0005)
    state: str = Field(default="active", max_length=16,
                       sa_column_kwargs={"server_default": "active"})
    created_at: datetime = _ts(nullable=False)


class NamespaceName(SQLModel, table=True):
    """Who holds a namespace name in a region: the live namespace's account, or, once it is
    deleted (`deleted_at` set), the account it stays reserved to until the operator
    releases it. Creating a namespace claims its row here first, so the primary key decides
    every race between a create and a delete, or two creates, of one name."""

    __tablename__ = "namespace_names"
    PUBLIC: ClassVar[tuple[str, ...]] = ("region", "name", "account_id", "deleted_at")

    region: str = Field(primary_key=True, max_length=64)
    name_key: str = Field(primary_key=True, max_length=NAME_KEY_LENGTH)
    name: str = Field(max_length=30)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    deleted_at: datetime | None = _ts(nullable=True)


class RegistryRow(SQLModel, table=True):
    """A registry we issue tokens for (`iam.registry.registries`): its `service` is the
    token audience. A removed one keeps its row (`removed_at`), so that seeding from the
    settings never brings back what an operator removed."""

    __tablename__ = "registries"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "service", "region", "url", "ca_file", "tls_verify", "delete_enabled", "trust",
        "created_at", "modified_at", "removed_at", "entity_tag")

    service: str = Field(primary_key=True, max_length=256)
    region: str = Field(default="", max_length=64)
    url: str = Field(default="", max_length=2048)
    ca_file: str | None = Field(default=None, max_length=4096)
    tls_verify: bool = True
    delete_enabled: bool = True
    trust: str = Field(default="bundle", max_length=16)
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    removed_at: datetime | None = _ts(nullable=True)
    entity_tag: str = Field(max_length=32)


class NamespaceRemoval(SQLModel, table=True):
    """A namespace being deleted: its images are removed from every registry of its region,
    then its name is released (`iam.access.namespace_removals`). Keyed like its name in
    `namespace_names`; also made for a reservation the operator releases (no namespace).

    Not watched by the authorization generation's triggers: its lease is renewed while a
    removal runs, and that must not empty every replica's token caches. The namespace's own
    `state` is what authorization reads."""

    __tablename__ = "namespace_removals"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "region", "name", "account_id", "namespace_id", "started_by", "started_at",
        "release_after", "attempts", "last_error")

    region: str = Field(primary_key=True, max_length=64)
    name_key: str = Field(primary_key=True, max_length=NAME_KEY_LENGTH)
    name: str = Field(max_length=30)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    #: the namespace being deleted; None when a reservation is being released
    namespace_id: str | None = Field(default=None, max_length=64)
    started_by: str = Field(max_length=80)
    started_at: datetime = _ts(nullable=False)
    #: no registry token minted before `started_at` can push after this (TTL + leeway)
    release_after: datetime = _ts(nullable=False)
    #: the last time every registry of the region was found empty (None: not yet)
    confirmed_at: datetime | None = _ts(nullable=True)
    #: who runs it now (a process's id) and until when; free when `lease_until` has passed
    lease_holder: str = Field(default="", max_length=64)
    lease_until: datetime | None = _ts(nullable=True)
    next_attempt_at: datetime = _ts(nullable=False, index=True)
    attempts: int = 0
    last_error: str = Field(default="", max_length=1024)


class AccessGroup(SQLModel, table=True):
    __tablename__ = "access_groups"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_groups_account_name"),
                      Index("uq_access_groups_name_key", "account_id", "name_key", unique=True))
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "account_id", "name", "description", "created_at", "modified_at", "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    name: str = Field(max_length=256)
    name_key: str = _name_key()
    description: str = Field(default="", max_length=1024)
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_members"
    PUBLIC: ClassVar[tuple[str, ...]] = ("group_id", "iam_id", "account_id", "created_at")

    group_id: str = Field(
        foreign_key="access_groups.id", primary_key=True, max_length=64, ondelete="CASCADE"
    )
    iam_id: str = Field(primary_key=True, max_length=80, index=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    created_at: datetime = _ts(nullable=False)


class Policy(SQLModel, table=True):
    """One grant: a subject (identity or group) holds roles on a resource of one service."""

    __tablename__ = "policies"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "account_id", "subject_iam_id", "subject_group_id", "roles", "service", "region",
        "resource_type", "resource", "repository", "created_by", "created_at", "modified_at",
        "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    subject_iam_id: str | None = Field(default=None, max_length=80, index=True)
    subject_group_id: str | None = Field(default=None, max_length=64, index=True)
    roles: str = Field(max_length=1024)  # comma-separated role names
    service: str = Field(max_length=64)
    region: str = Field(default="", max_length=64)
    resource_type: str = Field(default="", max_length=64)
    resource: str = Field(default="", max_length=256)
    repository: str = Field(default="", max_length=256)
    created_by: str = Field(default="", max_length=80)
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class Issuer(SQLModel, table=True):
    """An OIDC issuer an account trusts for workload tokens (migration 0006): its `iss`
    (`url`), the audiences it accepts, its keys (OIDC discovery, or a static JWKS), the
    algorithms allowed and the oldest token accepted."""

    __tablename__ = "issuers"
    __table_args__ = (UniqueConstraint("account_id", "url", name="uq_issuers_account_url"),)
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "account_id", "url", "audiences", "algorithms", "static_jwks", "allow_http",
        "max_token_age", "description", "created_at", "modified_at", "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    url: str = Field(max_length=1024, index=True)
    audiences: str = Field(max_length=4096)  # JSON list of strings
    algorithms: str = Field(max_length=64)  # comma-separated: RS256,ES256
    jwks: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    static_jwks: bool = False
    allow_http: bool = False
    max_token_age: int = 3600
    description: str = Field(default="", max_length=1024)
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class TrustedProfile(SQLModel, table=True):
    """A federated identity: holds policies like a service ID, has no key; who may become
    it is said by its claim rules."""

    __tablename__ = "trusted_profiles"
    __table_args__ = (Index("uq_trusted_profiles_name_key", "account_id", "name_key",
                            unique=True),)
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "iam_id", "account_id", "name", "description", "created_at", "modified_at",
        "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    iam_id: str = Field(max_length=80, unique=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    name: str = Field(max_length=256)
    name_key: str = _name_key()
    description: str = Field(default="", max_length=1024)
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class ClaimRule(SQLModel, table=True):
    """Who may become a trusted profile: a token of `issuer_url` whose claims meet every
    condition (`conditions`, a JSON list of {claim, operator, value})."""

    __tablename__ = "claim_rules"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "profile_id", "account_id", "name", "type", "issuer_url", "expiration",
        "conditions", "created_at", "modified_at", "entity_tag")

    id: str = Field(primary_key=True, max_length=64)
    profile_id: str = Field(sa_column=Column(
        String(64), ForeignKey("trusted_profiles.id", ondelete="CASCADE"), nullable=False,
        index=True))
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    name: str = Field(max_length=256)
    type: str = Field(max_length=32)
    issuer_url: str = Field(max_length=1024, index=True)
    expiration: int
    conditions: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts(nullable=False)
    modified_at: datetime = _ts(nullable=False)
    entity_tag: str = Field(max_length=32)


class AuditEvent(SQLModel, table=True):
    """Append-only trail of authentications, tokens, admin changes and decisions."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_account_ts", "account_id", "ts"),)

    # 64-bit on PostgreSQL (0009: a serial's sequence ends at 2**31 - 1); SQLite's INTEGER
    # primary key is its 64-bit rowid, which a BIGINT primary key would not be.
    id: int | None = Field(default=None, primary_key=True,
                           sa_type=BigInteger().with_variant(Integer(), "sqlite"))
    ts: datetime = _ts(nullable=False, index=True)
    account_id: str = Field(default="", max_length=64)
    actor: str = Field(default="", max_length=80, index=True)
    action: str = Field(max_length=128, index=True)
    outcome: str = Field(max_length=16)
    target: str = Field(default="", max_length=256)
    client_ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=256)
    detail: str = Field(default="{}")


class AuthzGeneration(SQLModel, table=True):
    """One row: bumped by database triggers on every change to keys, identities, groups,
    namespaces or policies (migration 0002), issuers, trusted profiles and claim rules
    (0006); what the token path's caches are valid for."""

    __tablename__ = "authz_generation"

    id: int = Field(primary_key=True)
    value: int = Field(sa_type=BigInteger)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser of the web console (`iam.identity.console_sessions`). The cookie
    carries a random token; only its HMAC digest is kept, so a copy of the database signs
    nobody in. The identity and credential it was opened with are re-checked on every
    request (a deleted or disabled key, a changed password ends it); signing out deletes
    the row."""

    __tablename__ = "console_sessions"
    PUBLIC: ClassVar[tuple[str, ...]] = (
        "id", "account_id", "iam_id", "apikey_id", "created_at", "last_seen_at", "expires_at")

    id: str = Field(primary_key=True, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=64)
    iam_id: str = Field(max_length=80, index=True)
    apikey_id: str | None = Field(default=None, max_length=64)
    credential: str = Field(default="", max_length=64)  # password fingerprint (users)
    created_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)
    expires_at: datetime = _ts(nullable=False)
