"""Accounts and start-up: `iam init` and the operator's `account-create`.

Each account gets an owner service ID that holds everything in its account; the first
account is the system account, whose owner is also the registry-wide operator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from iam import serversecret, serviceids, signing
from iam.apikey_store import create_api_key
from iam.config import Settings
from iam.db import make_engine, migrate, write_session
from iam.models import Account, ServiceId, utcnow
from iam.validation import MAX_NAME, clean_name


@dataclass(frozen=True)
class NewAccount:
    account: Account
    owner: ServiceId
    apikey: str  # shown once

    def __repr__(self) -> str:
        return f"NewAccount(account={self.account.id!r}, owner={self.owner.iam_id!r})"


@dataclass(frozen=True)
class InitResult:
    created: bool
    account_id: str
    new_account: NewAccount | None
    messages: list[str]


def create_account(session: Session, *, secret: bytes, name: str,
                   system: bool = False) -> NewAccount:
    account = Account(id=secrets.token_hex(16), name=clean_name(name), owner_iam_id="",
                      is_system=system, created_at=utcnow())
    session.add(account)
    session.flush()
    owner = serviceids.create_service_id(
        session, account_id=account.id, name=f"{account.name[:MAX_NAME - 6]} owner",
        description="Owner of the account; holds every action in it.",
    )
    account.owner_iam_id = owner.iam_id
    session.add(account)
    _, value = create_api_key(session, secret=secret, account_id=account.id,
                              iam_id=owner.iam_id, name="bootstrap",
                              description="Created by iam init / account-create")
    session.flush()
    return NewAccount(account=account, owner=owner, apikey=value)


def system_account(session: Session) -> Account | None:
    return session.exec(select(Account).where(Account.is_system)).first()


def initialize(settings: Settings, *, account_name: str = "default",
               engine: Engine | None = None) -> InitResult:
    """Idempotent set-up: data dir, schema, HMAC secret, signing key, first account."""
    messages: list[str] = []
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    migrate(settings.db_url)
    if serversecret.create_if_missing(settings):
        messages.append(f"created the API key secret {serversecret.secret_path(settings)}")
    if not signing.load_keys(settings.keys_dir):
        key = signing.generate_key(settings.keys_dir, alg=settings.signing_alg,
                                   issuer=settings.issuer)
        messages.append(f"created signing key {key.kid} ({key.alg})")
    secret = serversecret.load(settings)
    own_engine = engine is None
    engine = engine or make_engine(settings.db_url)
    try:
        with write_session(engine) as session:
            existing = system_account(session)
            if existing is not None:
                return InitResult(False, existing.id, None, messages)
            new = create_account(session, secret=secret, name=account_name, system=True)
        messages.append(f"created account {new.account.id} with owner {new.owner.iam_id}")
        return InitResult(True, new.account.id, new, messages)
    finally:
        if own_engine:
            engine.dispose()
